/**
 * How @moleculer/channels is wired into every broker (moleculer.config.ts):
 * - cluster: NATS JetStream, URL in object form (a plain string may silently connect to localhost);
 * - embedded: the in-process adapter below, with the PostgreSQL outbox as the durable source.
 * A second, tiny middleware starts the outbox relay only after the channel adapter is connected
 * and every channel is subscribed, and stops it before any consumer unsubscribes, so that
 * nothing is relayed into a half-subscribed broker and marked sent.
 */
import type { Middleware, ServiceBroker } from "moleculer";
import { Adapters, Middleware as ChannelsMiddleware } from "@moleculer/channels";
import type { Config } from "../src/platform/config";
import { durableRuntime, STREAM_MAX_AGE_DAYS } from "../mixins/outbox.mixin";
import { NATS_LIVENESS } from "../src/platform/outage";

interface Chan {
  id: string;
  name: string;
  group: string;
  unsubscribing?: boolean;
  handler: (payload: unknown, raw: InProcessMessage) => Promise<unknown>;
}

interface InProcessMessage {
  payload: unknown;
  headers: Record<string, string>;
}

const BaseAdapter = Adapters.Base as unknown as new (opts?: object) => {
  broker: ServiceBroker;
  connected: boolean;
  opts: Record<string, unknown>;
  init(broker: ServiceBroker, logger: unknown): void;
  addPrefixTopic(name: string): string;
};

/**
 * In-process delivery that, unlike the library's Fake adapter (a fire-and-forget event),
 * resolves `publish` only when one consumer of every group has handled the message (or recorded
 * its failure durably). The relay marks an outbox row sent only then, so a crash at any point
 * leaves the row pending and it is delivered again; the consumers' inbox drops the duplicates.
 */
export class InProcessAdapter extends BaseAdapter {
  private groups = new Map<string, Map<string, Chan[]>>();
  private turn = 0;

  constructor() {
    super({ maxInFlight: 100, maxRetries: 0, deadLettering: { enabled: false } });
  }

  async connect() {
    this.connected = true;
  }

  async disconnect() {
    this.connected = false;
  }

  async subscribe(chan: Chan) {
    const byGroup = this.groups.get(chan.name) ?? new Map<string, Chan[]>();
    this.groups.set(chan.name, byGroup);
    byGroup.set(chan.group, [...(byGroup.get(chan.group) ?? []).filter((c) => c.id !== chan.id), chan]);
  }

  async unsubscribe(chan: Chan) {
    chan.unsubscribing = true;
    const byGroup = this.groups.get(chan.name);
    const members = byGroup?.get(chan.group)?.filter((c) => c.id !== chan.id) ?? [];
    if (members.length) byGroup!.set(chan.group, members);
    else byGroup?.delete(chan.group);
  }

  async publish(channelName: string, payload: unknown, opts: { headers?: Record<string, string> } = {}) {
    if (!this.connected) throw new Error("in-process channel adapter is not connected");
    const byGroup = this.groups.get(channelName);
    if (!byGroup) return;
    const raw: InProcessMessage = { payload, headers: { ...(opts.headers ?? {}) } };
    await Promise.all(
      [...byGroup.values()].map((members) => {
        const chan = members[this.turn++ % members.length];
        // A copy per group, as a broker would deliver: one consumer must not see another's edits.
        return chan.handler(structuredClone(payload), { ...raw, payload: structuredClone(payload) });
      }),
    );
  }

  parseMessageHeaders(raw: InProcessMessage) {
    return raw?.headers ?? null;
  }
}

type NatsChan = { id: string; name: string; group: string };
const NatsAdapter = Adapters.NATS as unknown as new (opts?: object) => {
  subscribe(chan: NatsChan): Promise<void>;
  activeMessages: Map<string, unknown[]>;
  stopChannelActiveMessages(channelId: string): void;
  logger: { info(...args: unknown[]): void };
};

/**
 * The library's JetStream adapter, with one race closed: two nodes of one consumer group that
 * subscribe at the same moment (two PDF workers starting together) both find no durable consumer
 * and both create it, each with its own delivery subject, and NATS refuses the second ("consumer
 * name already in use", 10013): that node failed to start. A moment later the consumer exists
 * and the same call binds to it, so the refused subscription is tried again a few times.
 */
export class JetStreamAdapter extends NatsAdapter {
  async subscribe(chan: NatsChan): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await super.subscribe(chan);
      } catch (err) {
        const code = (err as { api_error?: { err_code?: number } }).api_error?.err_code;
        if (code !== CONSUMER_NAME_IN_USE || attempt >= SUBSCRIBE_ATTEMPTS) throw err;
        // The library began tracking the channel before it was refused.
        if (this.activeMessages.has(chan.id)) this.stopChannelActiveMessages(chan.id);
        this.logger.info(`'${chan.name}' (${chan.group}): another node created the consumer at the same moment; binding to it (attempt ${attempt + 1})`);
        await new Promise((r) => setTimeout(r, 100 * attempt + Math.random() * 100));
      }
    }
  }
}
const CONSUMER_NAME_IN_USE = 10013;
const SUBSCRIBE_ATTEMPTS = 5;

export function channelAdapterOptions(config: Config) {
  if (config.transporter) {
    return new JetStreamAdapter({
      nats: {
        url: config.transporter,
        // Reconnect for as long as it takes, as the transporter does (moleculer.config.ts). The
        // client's default gives up after 10 attempts 2 s apart: after a 20 s NATS outage this
        // connection stayed closed, and no event was published or consumed again until a restart.
        connectionOptions: { maxReconnectAttempts: -1, reconnectTimeWait: 1000, ...NATS_LIVENESS },
        streamConfig: { max_age: STREAM_MAX_AGE_DAYS * 24 * 3600 * 1e9 },
      },
      maxInFlight: 16,
    });
  }
  return new InProcessAdapter();
}

/** The middlewares every broker gets: @moleculer/channels and the outbox lifecycle. */
export function channelMiddlewares(config: Config): Middleware[] {
  const lifecycle = {
    name: "DurableEvents",
    // Runs after the Channels middleware's `started` (registration order): adapter connected,
    // every channel subscribed.
    started(broker: ServiceBroker) {
      durableRuntime(broker).ready();
    },
    // `stopping` hooks run before any service stops (and unsubscribes its channels).
    async stopping(broker: ServiceBroker) {
      await durableRuntime(broker).stop();
    },
  };
  return [
    ChannelsMiddleware({ adapter: channelAdapterOptions(config), context: false } as never) as unknown as Middleware,
    lifecycle as unknown as Middleware,
  ];
}
