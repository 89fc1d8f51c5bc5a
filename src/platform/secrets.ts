/**
 * Keys: from the environment in cluster mode; embedded mode generates them once into
 * DATA_DIR/secrets.json (mode 0600) so tokens and ticket signatures survive restarts.
 */
import crypto from "crypto";
import fs from "fs";
import path from "path";
import type { Config } from "./config";

export interface Secrets {
  /** HMAC key for access tokens (HS256). */
  jwtSecret: string;
  /** Ed25519 key pair (PEM) that signs ticket QR payloads. */
  ticketPrivateKey: string;
  ticketPublicKey: string;
}

function generate(): Secrets {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519");
  return {
    jwtSecret: crypto.randomBytes(48).toString("base64url"),
    ticketPrivateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    ticketPublicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

const memorySecrets = generate();

export function loadSecrets(config: Config): Secrets {
  const fromEnv: Partial<Secrets> = {
    jwtSecret: config.jwtSecret,
    ticketPrivateKey: config.ticketPrivateKey,
    ticketPublicKey: config.ticketPublicKey,
  };
  if (fromEnv.jwtSecret && fromEnv.ticketPrivateKey && fromEnv.ticketPublicKey) return fromEnv as Secrets;
  let stored: Secrets;
  if (config.dataDir === "memory") {
    stored = memorySecrets;
  } else {
    const file = path.join(config.dataDir, "secrets.json");
    if (fs.existsSync(file)) {
      stored = JSON.parse(fs.readFileSync(file, "utf8")) as Secrets;
    } else {
      fs.mkdirSync(config.dataDir, { recursive: true });
      stored = generate();
      fs.writeFileSync(file, JSON.stringify(stored, null, 2), { mode: 0o600 });
    }
  }
  return {
    jwtSecret: fromEnv.jwtSecret ?? stored.jwtSecret,
    ticketPrivateKey: fromEnv.ticketPrivateKey ?? stored.ticketPrivateKey,
    ticketPublicKey: fromEnv.ticketPublicKey ?? stored.ticketPublicKey,
  };
}
