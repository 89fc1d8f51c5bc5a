/**
 * `npm run test:cluster`: the cluster tests (real node processes) plus the integration tests that
 * re-run unchanged in cluster mode (startTestNode on NATS + PostgreSQL + Redis with a peer broker).
 * Integration tests that inspect one broker's local services or an embedded DATA_DIR stay embedded-only.
 */
const base = require("./jest.config.js");
const common = base.projects.find((p) => p.displayName === "integration");

const CLUSTER_REPLAYED = [
  "gateway", "accounts", "catalog", "catalog-seed", "knex-adapter", "orders", "holds", "seats", "tickets", "webhooks", "checkin", "analytics",
];

module.exports = {
  testTimeout: 180000,
  globalSetup: "<rootDir>/test/helpers/cluster-setup.js",
  globalTeardown: "<rootDir>/test/helpers/cluster-teardown.js",
  projects: [
    {
      ...common,
      displayName: "cluster",
      setupFiles: ["<rootDir>/test/helpers/cluster-env.ts"],
      testMatch: [
        "<rootDir>/test/cluster/**/*.test.ts",
        ...CLUSTER_REPLAYED.map((name) => `<rootDir>/test/integration/${name}.test.ts`),
      ],
    },
  ],
};
