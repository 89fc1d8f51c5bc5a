/**
 * `npm run test:cluster`: the cluster tests (real node processes) plus the integration tests that
 * re-run unchanged in cluster mode (startTestNode on NATS + PostgreSQL + Redis with a peer broker).
 * Integration tests that inspect one broker's local services or an embedded DATA_DIR stay embedded-only.
 */
const base = require("./jest.config.js");
const common = base.projects.find((p) => p.displayName === "integration");

// tickets and webhooks stay out: they pause one node's worker or post to loopback receivers, which
// a cluster (rightly) refuses; test/cluster/tickets.test.ts covers them across real processes.
const CLUSTER_REPLAYED = ["gateway", "accounts", "catalog", "catalog-seed", "knex-adapter", "orders", "seats", "analytics"];

module.exports = {
  testTimeout: 180000,
  globalSetup: "<rootDir>/test/helpers/cluster-setup.js",
  globalTeardown: "<rootDir>/test/helpers/cluster-teardown.js",
  projects: [
    // Hand-built clusters: real node processes or brokers the test wires itself.
    { ...common, displayName: "cluster", testMatch: ["<rootDir>/test/cluster/**/*.test.ts"] },
    // The integration tests again, on NATS + PostgreSQL + Redis with a peer broker.
    {
      ...common,
      displayName: "cluster-replay",
      setupFiles: ["<rootDir>/test/helpers/cluster-env.ts"],
      testMatch: CLUSTER_REPLAYED.map((name) => `<rootDir>/test/integration/${name}.test.ts`),
    },
  ],
};
