/**
 * The first admin account, so that a fresh install can be administered. ADMIN_EMAIL and
 * ADMIN_PASSWORD name it; without a password one is generated, shown once in the log and kept in
 * DATA_DIR/admin-password.txt (mode 0600) for whoever missed the log. A password from the
 * environment is never logged.
 */
import crypto from "crypto";
import fs from "fs";
import path from "path";
import type { Seed } from "../platform/seed";
import { hashPassword, passwordRuleViolation } from "../domain/passwords";
import { normaliseEmail } from "../domain/users";

export const DEFAULT_ADMIN_EMAIL = "admin@ticketflash.local";
export const ADMIN_PASSWORD_FILE = "admin-password.txt";

const seed: Seed = {
  async run({ trx, platform, logger }) {
    const { adminEmail, adminPassword, dataDir } = platform.config;
    const email = normaliseEmail(adminEmail ?? DEFAULT_ADMIN_EMAIL);
    if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 254) throw new Error(`ADMIN_EMAIL is not an email address: ${email}`);
    const password = adminPassword ?? crypto.randomBytes(18).toString("base64url");
    const violation = passwordRuleViolation(password);
    if (violation) throw new Error(`ADMIN_PASSWORD is not acceptable: ${violation}`);

    const now = new Date();
    const inserted = await trx("users")
      .insert({
        id: crypto.randomUUID(),
        email,
        name: "Administrator",
        password_hash: await hashPassword(password),
        roles: JSON.stringify(["buyer", "admin"]),
        created_at: now,
        updated_at: now,
      })
      .onConflict("email")
      .ignore()
      .returning("id");
    if (inserted.length === 0) {
      // Someone registered this address first; handing it admin rights could hand them to a stranger.
      logger.warn(`Admin seed: an account ${email} already exists; it was left unchanged. Grant admin with POST /api/users/:id/roles.`);
      return;
    }
    if (adminPassword) {
      logger.info(`Admin account ${email} created with the password from ADMIN_PASSWORD.`);
      return;
    }

    let saved = "";
    if (dataDir !== "memory") {
      const file = path.join(dataDir, ADMIN_PASSWORD_FILE);
      fs.mkdirSync(dataDir, { recursive: true });
      fs.writeFileSync(file, `${password}\n`, { mode: 0o600 });
      fs.chmodSync(file, 0o600);
      saved = `\n  Also saved to ${file} (readable by you only).`;
    }
    const rule = "=".repeat(72);
    logger.warn(
      `\n${rule}\n  Admin account created: ${email}\n  Password: ${password}\n  This is the only time it is shown.${saved}\n` +
        `  Set ADMIN_EMAIL and ADMIN_PASSWORD to choose them yourself.\n${rule}`,
    );
  },
};

export default seed;
