/** Four projects: `unit` (pure domain), `integration` (brokers on the embedded database),
 *  `cluster` (several node processes over real NATS, PostgreSQL and Redis), `e2e` (the web UI in Debian's Chromium). */
const transform = { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] };
const common = { testEnvironment: "node", transform, moduleFileExtensions: ["ts", "js", "json"] };
module.exports = {
  // Two cores: the integration tests mostly wait on the database and HTTP, so two workers pay.
  maxWorkers: 2,
  testTimeout: 120000,
  projects: [
    { ...common, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts"] },
    { ...common, displayName: "integration", testMatch: ["<rootDir>/test/integration/**/*.test.ts"] },
    { ...common, displayName: "cluster", testMatch: ["<rootDir>/test/cluster/**/*.test.ts"] },
    { ...common, displayName: "e2e", testMatch: ["<rootDir>/test/e2e/**/*.test.ts"] },
  ],
};
