/**
 * Every setting TicketFlash reads from the environment, in one place, with its default.
 * README's configuration table mirrors this file.
 */
import path from "path";

export interface Config {
  /** "embedded": one node, PGlite in-process, in-process channels. "cluster": NATS + PostgreSQL + Redis. */
  mode: "embedded" | "cluster";
  nodeID?: string;
  /** Moleculer namespace: nodes only see nodes of the same namespace. */
  namespace: string;
  port: number;
  /** Where embedded mode keeps its database, keys and mail; "memory" keeps nothing (tests). */
  dataDir: string;
  transporter?: string;
  databaseUrl?: string;
  /** A PostgreSQL server's statement that gets no answer this long drops its connection (0: never). */
  databaseQueryTimeoutMs: number;
  redisUrl?: string;
  /** Service names this node runs; empty means all. */
  services: string[];
  logLevel: string;
  adminEmail?: string;
  adminPassword?: string;
  jwtSecret?: string;
  /** Ed25519 PEM keys signing ticket QR codes (cluster mode: every node needs the same pair). */
  ticketPrivateKey?: string;
  ticketPublicKey?: string;
  oidcIssuer?: string;
  corsOrigins: string;
  rateLimitPerMinute: number;
  /** Proxies (addresses or CIDR ranges) whose X-Forwarded-For is believed; empty: none. */
  trustedProxies: string[];
  bodyLimit: string;
  smtpUrl?: string;
  /** Sender of notification emails. */
  mailFrom: string;
  /** Webhooks may target loopback/private addresses (embedded default on, cluster default off: SSRF). */
  webhookAllowPrivateNetworks: boolean;
  /** Seed demo venues/events on first start (embedded default on, cluster default off). */
  seedDemo: boolean;
}

function bool(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === "") return fallback;
  return ["1", "true", "yes", "on"].includes(value.toLowerCase());
}

function list(value: string | undefined): string[] {
  return (value ?? "").split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, argvServices: string[] = []): Config {
  const transporter = env.TRANSPORTER || undefined;
  const mode = transporter || env.DATABASE_URL ? "cluster" : "embedded";
  const dataDir = env.DATA_DIR === "memory" ? "memory" : path.resolve(env.DATA_DIR || "./data");
  return {
    mode,
    nodeID: env.NODE_ID || undefined,
    namespace: env.NAMESPACE || "ticketflash",
    port: Number(env.PORT ?? 3000),
    dataDir,
    transporter,
    databaseUrl: env.DATABASE_URL || undefined,
    databaseQueryTimeoutMs: Number(env.DATABASE_QUERY_TIMEOUT_MS ?? 20_000),
    redisUrl: env.REDIS_URL || undefined,
    services: argvServices.length ? argvServices : list(env.SERVICES),
    logLevel: env.LOG_LEVEL || "info",
    adminEmail: env.ADMIN_EMAIL || undefined,
    adminPassword: env.ADMIN_PASSWORD || undefined,
    jwtSecret: env.JWT_SECRET || undefined,
    ticketPrivateKey: env.TICKET_PRIVATE_KEY?.replace(/\\n/g, "\n") || undefined,
    ticketPublicKey: env.TICKET_PUBLIC_KEY?.replace(/\\n/g, "\n") || undefined,
    oidcIssuer: env.OIDC_ISSUER || undefined,
    corsOrigins: env.CORS_ORIGINS || "*",
    rateLimitPerMinute: Number(env.RATE_LIMIT_PER_MINUTE ?? 6000),
    trustedProxies: list(env.TRUSTED_PROXIES),
    bodyLimit: env.BODY_LIMIT || "64kb",
    smtpUrl: env.SMTP_URL || undefined,
    mailFrom: env.MAIL_FROM || "TicketFlash <tickets@ticketflash.local>",
    webhookAllowPrivateNetworks: bool(env.WEBHOOK_ALLOW_PRIVATE_NETWORKS, mode === "embedded"),
    seedDemo: bool(env.SEED_DEMO, mode === "embedded"),
  };
}
