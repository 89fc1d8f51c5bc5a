/** Four projects: `unit` (pure domain), `integration` (brokers on the embedded database),
 *  `cluster` (several node processes over real NATS, PostgreSQL and Redis), `e2e` (the web UI in Debian's Chromium). */
const transform = { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] };
const common = { testEnvironment: "node", transform, moduleFileExtensions: ["ts", "js", "json"] };
module.exports = {
  // Two cores: the integration tests mostly wait on the database and HTTP, so two workers pay.
  maxWorkers: 2,
  // A worker is replaced once its heap passes this after a test file. The test files leave
  // memory behind in their worker (343 MB after a forced GC at the end of a whole run, measured),
  // and a process ending with a heap that size took 0.5-0.7 s to exit, longer than jest waits
  // (500 ms): jest then reported "a worker process has failed to exit gracefully".
  workerIdleMemoryLimit: "300MB",
  testTimeout: 120000,
  projects: [
    { ...common, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts"] },
    { ...common, displayName: "integration", testMatch: ["<rootDir>/test/integration/**/*.test.ts"] },
    { ...common, displayName: "cluster", testMatch: ["<rootDir>/test/cluster/**/*.test.ts"] },
    { ...common, displayName: "e2e", testMatch: ["<rootDir>/test/e2e/**/*.test.ts"] },
  ],
};
