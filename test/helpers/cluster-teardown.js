/**
 * Drops every database this cluster run created (restart tests keep theirs until now), and the
 * JetStream streams of its namespaces, so repeated runs leave nothing on the servers.
 */
const { Client } = require("pg");
const { connect } = require("nats");

async function dropStreams(run) {
  const nc = await connect({ servers: process.env.TEST_NATS_URL || "nats://127.0.0.1:4222", timeout: 3000 });
  try {
    const jsm = await nc.jetstreamManager();
    const mine = [`tf-it-${run}-`, `tf-test-${run}-`];
    for await (const stream of jsm.streams.list()) {
      if (mine.some((p) => stream.config.name.startsWith(p))) await jsm.streams.delete(stream.config.name);
    }
  } finally {
    await nc.close();
  }
}

module.exports = async function teardown() {
  const run = process.env.TF_TEST_RUN;
  if (!run) return;
  const admin = new Client({ connectionString: process.env.TEST_PG_ADMIN_URL || "postgres://postgres@127.0.0.1:5432/postgres" });
  await admin.connect();
  try {
    const { rows } = await admin.query("SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname LIKE $2", [`tf_it_${run}_%`, `tf_cluster_${run}_%`]);
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  await dropStreams(run).catch((err) => console.warn("could not clean JetStream streams:", err.message));
};
