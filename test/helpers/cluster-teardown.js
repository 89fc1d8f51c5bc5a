/** Drops every database this cluster run created (restart tests keep theirs until now). */
const { Client } = require("pg");

module.exports = async function teardown() {
  const run = process.env.TF_TEST_RUN;
  if (!run) return;
  const admin = new Client({ connectionString: process.env.TEST_PG_ADMIN_URL || "postgres://postgres@127.0.0.1:5432/postgres" });
  await admin.connect();
  try {
    const { rows } = await admin.query("SELECT datname FROM pg_database WHERE datname LIKE $1", [`tf_it_${run}_%`]);
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
};
