/**
 * Request metrics at flash-sale rates.
 *
 * Moleculer's own Metrics middleware writes its registry on every action call: four to five
 * label hashes, a gauge set twice, a counter with a rate, a histogram keeping every raw sample of
 * the last minute for quantiles. In the benchmark that alone cut a no-op route to 0.45 of its rate
 * and kept V8's helper threads busy (bench/fixes.md). Here a call adds to plain numbers in a
 * tally kept per (action, caller, type), and the tallies are written into the same registry
 * metrics (same names, labels and meaning: `moleculer_request_total`, `_active`, `_error_total`,
 * `_time`, `_levels`) once a second and right before `/metrics` renders. Errors are tallied the
 * same way, per (caller, error name, code, type): when a sale sells out, most calls are refusals,
 * and writing the registry for each took 15 µs of a refused hold's ~400 (bench/fixes.md, tenth
 * round).
 * Timeouts and events still go through the registry directly.
 *
 * The request time histogram keeps its buckets (Prometheus computes quantiles from them) but no
 * longer a minute of raw samples for quantiles computed in the process.
 */
import { Middlewares, ServiceBroker } from "moleculer";

/** Moleculer's names (its METRIC constants, which its typings do not list). */
const REQUEST_TOTAL = "moleculer.request.total";
const REQUEST_ACTIVE = "moleculer.request.active";
const REQUEST_ERROR_TOTAL = "moleculer.request.error.total";
const REQUEST_TIME = "moleculer.request.time";
const REQUEST_LEVELS = "moleculer.request.levels";

type Labels = Record<string, string | number | null | undefined>;
type Registry = ServiceBroker["metrics"];

/** What the flush needs of a Moleculer 0.14 histogram: its items and bounds. */
interface HistogramInternals {
  buckets?: number[];
  values: Map<string, HistogramItem>;
  hashingLabels(labels: Labels): string;
  resetItem(item: { labels: Labels }): HistogramItem;
  changed(value: number, labels: Labels, timestamp?: number): void;
}
interface HistogramItem {
  labels: Labels;
  sum: number;
  count: number;
  lastValue?: number;
  timestamp?: number;
  bucketValues?: Record<number, number>;
}

export class CounterTally {
  n = 0;
  constructor(readonly name: string, readonly labels: Labels) {}
}

export class GaugeTally {
  value = 0;
  private written = Number.NaN;
  constructor(readonly name: string, readonly labels: Labels) {}
  /** The value to write, or undefined when the registry already has it. */
  take(): number | undefined {
    if (this.value === this.written) return undefined;
    this.written = this.value;
    return this.value;
  }
}

export class HistogramTally {
  count = 0;
  sum = 0;
  last = 0;
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly perBucket: number[];
  constructor(readonly name: string, readonly labels: Labels, readonly bounds: number[]) {
    this.perBucket = new Array<number>(bounds.length + 1).fill(0);
  }
  observe(value: number): void {
    this.count++;
    this.sum += value;
    this.last = value;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    this.perBucket[i]++;
  }
}

/** Plain-number tallies over one broker's registry, written into it by `flush()`. */
export class Tallies {
  private counters = new Map<string, CounterTally>();
  private gauges = new Map<string, GaugeTally>();
  private histograms = new Map<string, HistogramTally>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly registry: Registry) {}

  /**
   * A counter for one label set; callers keep the handle and add to `n`. `id` names the label set
   * when the caller has a cheaper string for it than the labels' JSON (a per-request hot path).
   */
  counter(name: string, labels: Labels, id = JSON.stringify(labels)): CounterTally {
    const key = name + "\u0000" + id;
    let t = this.counters.get(key);
    if (!t) this.counters.set(key, (t = new CounterTally(name, labels)));
    return t;
  }

  gauge(name: string, labels: Labels, id = JSON.stringify(labels)): GaugeTally {
    const key = name + "\u0000" + id;
    let t = this.gauges.get(key);
    if (!t) this.gauges.set(key, (t = new GaugeTally(name, labels)));
    return t;
  }

  /** A histogram for one label set, with the bounds of the registered metric. */
  histogram(name: string, labels: Labels, id = JSON.stringify(labels)): HistogramTally {
    const key = name + "\u0000" + id;
    let t = this.histograms.get(key);
    if (!t) {
      const metric = this.registry.getMetric(name) as unknown as HistogramInternals | null;
      this.histograms.set(key, (t = new HistogramTally(name, labels, metric?.buckets ?? [])));
    }
    return t;
  }

  /** Writes what was tallied since the last flush into the registry. */
  flush(): void {
    if (!this.registry.isEnabled()) return;
    const now = Date.now();
    for (const t of this.counters.values()) {
      if (t.n === 0) continue;
      const n = t.n;
      t.n = 0;
      this.registry.increment(t.name, t.labels, n, now);
    }
    for (const t of this.gauges.values()) {
      const v = t.take();
      if (v !== undefined) this.registry.set(t.name, v, t.labels, now);
    }
    for (const t of this.histograms.values()) {
      if (t.count === 0) continue;
      const metric = this.registry.getMetric(t.name) as unknown as HistogramInternals | null;
      if (!metric) continue;
      const hash = metric.hashingLabels(t.labels);
      let item = metric.values.get(hash);
      if (!item) {
        item = metric.resetItem({ labels: { ...t.labels } });
        metric.values.set(hash, item);
      }
      item.sum += t.sum;
      item.count += t.count;
      item.lastValue = t.last;
      item.timestamp = now;
      if (item.bucketValues && metric.buckets) {
        // Moleculer's buckets are cumulative: a value counts in every bucket whose bound it is under.
        let cumulative = 0;
        metric.buckets.forEach((bound, i) => {
          cumulative += t.perBucket[i] ?? 0;
          (item as HistogramItem).bucketValues![bound] += cumulative;
        });
      }
      metric.changed(t.last, t.labels, now);
      t.count = 0;
      t.sum = 0;
      t.perBucket.fill(0);
    }
  }

  /** Flushes every `ms` until stop(); the timer never keeps the process alive. */
  start(ms = 1000): void {
    this.stop();
    this.timer = setInterval(() => this.flush(), ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

const talliesByBroker = new WeakMap<ServiceBroker, Tallies>();

/** The broker's tallies (one per broker), shared by the middleware and the gateway's HTTP metrics. */
export function talliesOf(broker: ServiceBroker): Tallies {
  let t = talliesByBroker.get(broker);
  if (!t) talliesByBroker.set(broker, (t = new Tallies(broker.metrics)));
  return t;
}

type ActionDef = { name: string; service?: { fullName: string } };
type Ctx = { caller?: string | null; level: number };
type Handler = (ctx: Ctx) => Promise<unknown>;
type MiddlewareObject = Record<string, unknown> & { created?: (broker: ServiceBroker) => void };

interface CallTallies {
  total: CounterTally;
  active: GaugeTally;
  time: HistogramTally;
}

/**
 * Moleculer's Metrics middleware with the per-call work of actions replaced by tallies. Its
 * other hooks (events, transit, transporter) and its metric registrations stay as they are.
 */
export function RequestMetricsMiddleware(broker: ServiceBroker): MiddlewareObject {
  const builtIn = (Middlewares as unknown as { Metrics(b: ServiceBroker): MiddlewareObject }).Metrics(broker);
  const tallies = talliesOf(broker);
  const levels: CounterTally[] = [];

  function wrap(type: "local" | "remote") {
    return function (next: Handler, action: ActionDef): Handler {
      if (!broker.isMetricsEnabled()) return next;
      const service = action.service ? action.service.fullName : null;
      const name = action.name;
      const byCaller = new Map<string | null, CallTallies>();
      const errorTallies = new Map<string, CounterTally>();
      return function requestMetrics(ctx: Ctx) {
        const caller = ctx.caller ?? null;
        let t = byCaller.get(caller);
        if (!t) {
          const labels = { service, action: name, type, caller };
          t = {
            total: tallies.counter(REQUEST_TOTAL, labels),
            active: tallies.gauge(REQUEST_ACTIVE, labels),
            time: tallies.histogram(REQUEST_TIME, labels),
          };
          byCaller.set(caller, t);
        }
        const tally = t;
        tally.total.n++;
        tally.active.value++;
        const level = ctx.level;
        (levels[level] ??= tallies.counter(REQUEST_LEVELS, { level })).n++;
        const started = performance.now();
        return next(ctx).then(
          (res) => {
            tally.time.observe(performance.now() - started);
            tally.active.value--;
            return res;
          },
          (err: { name?: string; code?: unknown; type?: string } | undefined) => {
            tally.time.observe(performance.now() - started);
            tally.active.value--;
            const errorName = err ? err.name : null;
            const errorCode = err ? (err.code as string | number | null) : null;
            const errorType = err ? err.type : null;
            const id = `${caller}\u0000${errorName}\u0000${errorCode}\u0000${errorType}`;
            let errors = errorTallies.get(id);
            if (!errors) {
              errors = tallies.counter(REQUEST_ERROR_TOTAL, { service, action: name, caller, type, errorName, errorCode, errorType });
              errorTallies.set(id, errors);
            }
            errors.n++;
            throw err;
          },
        );
      };
    };
  }

  return {
    ...builtIn,
    name: "Metrics",
    created(b: ServiceBroker) {
      builtIn.created?.call(this, b);
      if (!b.isMetricsEnabled()) return;
      // The same metric, without a minute of raw samples per label set for in-process quantiles.
      b.metrics.register({
        name: REQUEST_TIME,
        type: "histogram",
        labelNames: ["service", "action", "type", "caller"],
        buckets: true,
        unit: "millisecond",
        description: "Request times in milliseconds",
      });
      tallies.start();
    },
    stopped() {
      tallies.flush();
      tallies.stop();
    },
    localAction: wrap("local"),
    remoteAction: wrap("remote"),
  };
}
