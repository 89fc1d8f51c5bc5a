/**
 * The Node/V8 flags every TicketFlash node runs with. `npm start`, `npm run node` and the
 * Dockerfile pass them on the command line; the bench starts its nodes with them from here; a unit
 * test checks that all of these agree (test/unit/node-flags.test.ts).
 *
 * `--max-semi-space-size=64`: V8's young generation may grow to 64 MB per semi-space instead of
 * 16. A request makes short-lived objects (the parsed body, Moleculer's context, knex's builder,
 * the answer), and with the default the collector ran often enough to take 10% of the main thread
 * in the hot hold and 18% with load spread over 1,000 sessions. Two alternating pairs each on one
 * 2-core machine (bench/fixes.md, thirteenth round): CPU per hold 0.71 -> 0.50-0.55 ms, per hold
 * over many sessions 1.88-2.09 -> 1.65-1.85 ms, per confirmed order 26.5-31.8 -> 25.0-27.5 ms.
 * It costs 40-140 MB more resident memory per node (k8s/catalog.yaml's limit was raised to 512 Mi for it).
 */
export const NODE_FLAGS: readonly string[] = ["--max-semi-space-size=64"];
