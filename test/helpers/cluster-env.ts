/** Makes startTestNode run on NATS + PostgreSQL + Redis with a peer broker (see test/helpers/node.ts). */
process.env.TEST_CLUSTER = "1";
