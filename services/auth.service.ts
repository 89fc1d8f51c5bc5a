/**
 * Sign-up, sign-in and sessions. Access tokens are short JWTs (src/platform/auth.ts); refresh
 * tokens are opaque, stored hashed, rotated on every use and grouped in families so that a replayed
 * refresh token revokes everything issued from the same sign-in (src/domain/refresh-tokens.ts).
 * Roles are read from the user record at every refresh, so a role change reaches the next token.
 */
import crypto from "crypto";
import type { Service, ServiceSchema } from "moleculer";
import { DbMixin, DbThis } from "../mixins/db.mixin";
import { AuthContext, signAccessToken } from "../src/platform/auth";
import { isRefusal, unauthorized } from "../src/platform/errors";
import { hashRefreshToken, IssuedRefreshToken, judgeRefreshToken, looksLikeRefreshToken, newRefreshToken } from "../src/domain/refresh-tokens";
import type { User } from "../src/domain/users";
import { CREDENTIALS_RATE_LIMIT, userParams } from "./users.service";

export interface Session {
  user: User;
  accessToken: string;
  refreshToken: string;
}

interface RefreshTokenRow {
  id: string;
  token_hash: string;
  user_id: string;
  family_id: string;
  parent_id: string | null;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
}

type AuthThis = Service & DbThis & {
  startSession(user: User): Promise<Session>;
  accessToken(user: User): string;
  purgeTimer?: NodeJS.Timeout;
};

function refreshTokenRow(token: IssuedRefreshToken, userId: string, familyId: string, parentId: string | null) {
  return {
    id: crypto.randomUUID(),
    token_hash: token.tokenHash,
    user_id: userId,
    family_id: familyId,
    parent_id: parentId,
    expires_at: token.expiresAt,
  };
}

const refreshTokenParam = { refreshToken: { type: "string", min: 1, max: 200 } };
const invalidRefreshToken = () => unauthorized("The refresh token is invalid, expired or revoked; sign in again.", "INVALID_TOKEN");
// Expired tokens are useless to everyone; keep them a day for forensics, then drop them.
const PURGE_AFTER_MS = 24 * 60 * 60 * 1000;

const AuthService: ServiceSchema = {
  name: "auth",
  mixins: [DbMixin],
  settings: { rest: "/" },

  actions: {
    register: {
      rest: "POST /auth/register",
      auth: "public",
      rateLimit: CREDENTIALS_RATE_LIMIT,
      params: userParams,
      async handler(this: AuthThis, ctx: AuthContext<{ email: string; password: string; name: string }>): Promise<Session> {
        const user = await ctx.call<User, typeof ctx.params>("users.create", ctx.params);
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = "/api/users/me";
        return this.startSession(user);
      },
    },

    login: {
      rest: "POST /auth/login",
      auth: "public",
      rateLimit: CREDENTIALS_RATE_LIMIT,
      params: {
        email: { type: "string", max: 254 },
        password: { type: "string", max: 200 },
      },
      async handler(this: AuthThis, ctx: AuthContext<{ email: string; password: string }>): Promise<Session> {
        const user = await ctx.call<User, typeof ctx.params>("users.verifyCredentials", ctx.params);
        return this.startSession(user);
      },
    },

    refresh: {
      rest: "POST /auth/refresh",
      auth: "public",
      rateLimit: CREDENTIALS_RATE_LIMIT,
      params: refreshTokenParam,
      async handler(this: AuthThis, ctx: AuthContext<{ refreshToken: string }>): Promise<Session> {
        if (!looksLikeRefreshToken(ctx.params.refreshToken)) throw invalidRefreshToken();
        const tokenHash = hashRefreshToken(ctx.params.refreshToken);
        const found = (await this.db("refresh_tokens").where({ token_hash: tokenHash }).first()) as RefreshTokenRow | undefined;
        if (!found) throw invalidRefreshToken();
        // Read the user before the transaction: the embedded database has one session, and the
        // transaction must not wait on a call that needs it. Roles come from here, not the old token.
        let user: User;
        try {
          user = await ctx.call<User, { id: string }>("users.get", { id: found.user_id });
        } catch (err) {
          if (isRefusal(err, 404)) throw invalidRefreshToken();
          throw err;
        }
        const now = new Date();
        const next = newRefreshToken(now);
        const rotated = await this.db.transaction(async (trx) => {
          // Locked, so two concurrent refreshes with one token cannot both be "valid".
          const row = (await trx("refresh_tokens").where({ id: found.id }).forUpdate().first()) as RefreshTokenRow;
          const verdict = judgeRefreshToken({ expiresAt: new Date(row.expires_at), usedAt: row.used_at, revokedAt: row.revoked_at }, now);
          if (verdict === "reused") {
            await trx("refresh_tokens").where({ family_id: row.family_id }).whereNull("revoked_at").update({ revoked_at: now });
            this.logger.warn(`Refresh token reused: revoked token family ${row.family_id} of user ${row.user_id}`);
          }
          if (verdict !== "valid") return false;
          await trx("refresh_tokens").where({ id: row.id }).update({ used_at: now });
          await trx("refresh_tokens").insert(refreshTokenRow(next, user.id, row.family_id, row.id));
          return true;
        });
        if (!rotated) throw invalidRefreshToken();
        return { user, accessToken: this.accessToken(user), refreshToken: next.token };
      },
    },

    logout: {
      rest: "POST /auth/logout",
      auth: "public",
      rateLimit: CREDENTIALS_RATE_LIMIT,
      params: refreshTokenParam,
      async handler(this: AuthThis, ctx: AuthContext<{ refreshToken: string }>): Promise<void> {
        // Idempotent: an unknown or already revoked token signs nobody in, so there is nothing to report.
        ctx.meta.$statusCode = 204;
        if (!looksLikeRefreshToken(ctx.params.refreshToken)) return;
        const row = (await this.db("refresh_tokens").where({ token_hash: hashRefreshToken(ctx.params.refreshToken) }).first()) as
          | RefreshTokenRow
          | undefined;
        if (row) await this.db("refresh_tokens").where({ family_id: row.family_id }).whereNull("revoked_at").update({ revoked_at: new Date() });
      },
    },

    /** Internal (users.updateMe after a password change): signs the user out everywhere. */
    revokeAll: {
      params: { userId: { type: "string", min: 1, max: 100 } },
      async handler(this: AuthThis, ctx: AuthContext<{ userId: string }>): Promise<{ revoked: number }> {
        const revoked = await this.db("refresh_tokens").where({ user_id: ctx.params.userId }).whereNull("revoked_at").update({ revoked_at: new Date() });
        return { revoked };
      },
    },
  },

  methods: {
    /** A new sign-in: an access token and the first refresh token of a new family. */
    async startSession(this: AuthThis, user: User): Promise<Session> {
      const refresh = newRefreshToken(new Date());
      await this.db("refresh_tokens").insert(refreshTokenRow(refresh, user.id, crypto.randomUUID(), null));
      return { user, accessToken: this.accessToken(user), refreshToken: refresh.token };
    },

    accessToken(this: AuthThis, user: User): string {
      return signAccessToken(this.platform.secrets.jwtSecret, { id: user.id, email: user.email, name: user.name, roles: user.roles });
    },
  },

  started() {
    const self = this as unknown as AuthThis;
    const purge = () =>
      self.db("refresh_tokens")
        .where("expires_at", "<", new Date(Date.now() - PURGE_AFTER_MS))
        .delete()
        .catch(() => undefined);
    self.purgeTimer = setInterval(purge, 60 * 60 * 1000);
    self.purgeTimer.unref();
  },

  stopped() {
    const self = this as unknown as AuthThis;
    if (self.purgeTimer) clearInterval(self.purgeTimer);
  },
};

export default AuthService;
