/**
 * Two nodes of one consumer group starting at the same moment over real NATS JetStream (two PDF
 * workers, say): both find no durable consumer and create it, and NATS refuses the second. The
 * platform's adapter binds the refused one to the consumer that now exists: both nodes start, and
 * the group gets every message once.
 */
import { ServiceBroker } from "moleculer";
import { Middleware as ChannelsMiddleware } from "@moleculer/channels";
import { JetStreamAdapter } from "../../channels/adapter";
import { NATS_URL, randomSuffix, waitFor } from "../helpers/infra";

const ROUNDS = 4;
const MESSAGES = 20;

function broker(nodeID: string, namespace: string, channel: string, received: string[]) {
  return new ServiceBroker({
    nodeID,
    namespace,
    logger: false,
    transporter: null,
    middlewares: [ChannelsMiddleware({ adapter: new JetStreamAdapter({ nats: { url: NATS_URL }, maxInFlight: 16 }) } as never) as never],
    created(b) {
      b.createService({
        name: "racer",
        channels: {
          [channel]: {
            group: "racers",
            handler: async (payload: { n: number }) => {
              received.push(`${nodeID}:${payload.n}`);
            },
          },
        },
      } as never);
    },
  });
}

describe("two nodes of one consumer group subscribing at the same moment (NATS JetStream)", () => {
  const brokers: ServiceBroker[] = [];
  afterAll(async () => {
    await Promise.all(brokers.map((b) => b.stop().catch(() => undefined)));
  });

  it("starts both, every round, and the group gets each message once", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const suffix = randomSuffix();
      const channel = `race-${suffix}.events`;
      const received: string[] = [];
      const pair = ["a", "b"].map((n) => broker(`${n}-${suffix}`, `tf-race-${suffix}`, channel, received));
      brokers.push(...pair);
      await Promise.all(pair.map((b) => b.start()));

      const send = pair[0] as unknown as { sendToChannel(name: string, payload: unknown): Promise<void> };
      for (let n = 0; n < MESSAGES; n++) await send.sendToChannel(channel, { n });
      await waitFor("every message delivered", async () => received.length >= MESSAGES, 15_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(received.map((r) => Number(r.split(":")[1])).sort((x, y) => x - y)).toEqual(Array.from({ length: MESSAGES }, (_, n) => n));

      // The test's stream goes with it (its consumer too).
      const adapter = (pair[0] as unknown as { channelAdapter: { addPrefixTopic(name: string): string; manager: { streams: { delete(name: string): Promise<boolean> } } } }).channelAdapter;
      await adapter.manager.streams.delete(adapter.addPrefixTopic(channel).split(".").join("_"));
      await Promise.all(pair.map((b) => b.stop().catch(() => undefined)));
    }
  }, 120_000);
});
