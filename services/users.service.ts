/**
 * Users: the account record (email, name, password hash, roles). REST: the caller's own profile
 * and admin-only role assignment. Internal actions for the auth service, tests and seeds:
 * `users.create`, `users.verifyCredentials`, `users.get`, `users.setRoles`.
 */
import crypto from "crypto";
import type { Knex } from "knex";
import type { ServiceSchema } from "moleculer";
import { DbMixin, DbThis } from "../mixins/db.mixin";
import { AuthContext, currentUser, Role, ROLES } from "../src/platform/auth";
import { ApiError, badRequest, conflict, notFound, unauthorized } from "../src/platform/errors";
import { hashPassword, needsRehash, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, verifyAgainstDecoy, verifyPassword } from "../src/domain/passwords";
import { DEFAULT_ROLES, normaliseEmail, normaliseRoles, publicUser, User, UserRow } from "../src/domain/users";

/** Shared with the auth service so that both routes accept exactly the same input. */
export const userParams = {
  email: { type: "email", mode: "precise", normalize: true, max: 254 },
  password: { type: "string", min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH },
  // Printable text only: names end up in e-mails, PDFs and HTML.
  name: { type: "string", trim: true, min: 1, max: 100, pattern: /^[^\p{Cc}\p{Cs}]+$/u },
};

/** Per client address (auth routes), on top of the gateway's per-client limit: guessing passwords must be slow. */
export const CREDENTIALS_RATE_LIMIT = { limit: 20, windowMs: 60_000 };

type UsersThis = DbThis & {
  findRow(id: string, trx?: Knex.Transaction): Promise<UserRow | undefined>;
};

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === "23505";
const emailTaken = () => conflict("EMAIL_TAKEN", "An account with this email already exists.");

const UsersService: ServiceSchema = {
  name: "users",
  mixins: [DbMixin],
  settings: { rest: "/" },

  actions: {
    /** Internal (auth.register): creates an account with the default role. */
    create: {
      params: userParams,
      async handler(this: UsersThis, ctx: AuthContext<{ email: string; password: string; name: string }>): Promise<User> {
        const { email, password, name } = ctx.params;
        const passwordHash = await hashPassword(password);
        const now = new Date();
        const row: UserRow = {
          id: crypto.randomUUID(),
          email: normaliseEmail(email),
          name,
          password_hash: passwordHash,
          roles: DEFAULT_ROLES,
          created_at: now,
          updated_at: now,
        };
        try {
          await this.db("users").insert({ ...row, roles: JSON.stringify(row.roles) });
        } catch (err) {
          if (isUniqueViolation(err)) throw emailTaken();
          throw err;
        }
        return publicUser(row);
      },
    },

    /**
     * Internal (auth.login): the user for these credentials, or 401 INVALID_CREDENTIALS whether
     * the email is unknown or the password wrong; both paths spend one scrypt computation.
     */
    verifyCredentials: {
      params: {
        email: { type: "string", max: 254 },
        password: { type: "string", max: PASSWORD_MAX_LENGTH },
      },
      async handler(this: UsersThis, ctx: AuthContext<{ email: string; password: string }>): Promise<User> {
        const row = (await this.db("users").where({ email: normaliseEmail(ctx.params.email) }).first()) as UserRow | undefined;
        const ok = row ? await verifyPassword(ctx.params.password, row.password_hash) : await verifyAgainstDecoy(ctx.params.password);
        if (!row || !ok) throw unauthorized("The email or password is wrong.", "INVALID_CREDENTIALS");
        if (needsRehash(row.password_hash)) {
          // Parameters were raised since this hash was made: upgrade it now that we know the password.
          const upgraded = await hashPassword(ctx.params.password);
          await this.db("users").where({ id: row.id, password_hash: row.password_hash }).update({ password_hash: upgraded });
        }
        return publicUser(row);
      },
    },

    /** Internal: a user by id, or 404. */
    get: {
      params: { id: { type: "string", min: 1, max: 100 } },
      async handler(this: UsersThis, ctx: AuthContext<{ id: string }>): Promise<User> {
        const row = await this.findRow(ctx.params.id);
        if (!row) throw notFound("User");
        return publicUser(row);
      },
    },

    /**
     * Replaces a user's roles (admin only over REST; tests and seeds call it directly). Access tokens
     * already issued keep their roles until they expire; the next refresh carries the new ones.
     */
    setRoles: {
      rest: "POST /users/:id/roles",
      roles: ["admin"],
      params: {
        id: { type: "string", min: 1, max: 100 },
        roles: { type: "array", min: 1, max: ROLES.length, unique: true, items: { type: "enum", values: [...ROLES] } },
      },
      async handler(this: UsersThis, ctx: AuthContext<{ id: string; roles: Role[] }>): Promise<User> {
        const roles = normaliseRoles(ctx.params.roles);
        const row = await this.db.transaction(async (trx) => {
          const current = await this.findRow(ctx.params.id, trx);
          if (!current) throw notFound("User");
          if (current.roles.includes("admin") && !roles.includes("admin")) {
            // Locks every admin row, so two admins demoting each other cannot both succeed.
            const admins = await trx("users").whereRaw("roles @> ?::jsonb", [JSON.stringify(["admin"])]).forUpdate().select("id");
            if (admins.length <= 1) {
              throw conflict("LAST_ADMIN", "This is the only admin; make someone else admin first.");
            }
          }
          const [updated] = (await trx("users")
            .where({ id: current.id })
            .update({ roles: JSON.stringify(roles), updated_at: new Date() })
            .returning("*")) as UserRow[];
          return updated;
        });
        return publicUser(row);
      },
    },

    /**
     * The caller's account. Someone signed in through the external identity provider (OIDC) has no
     * account row here: they get the identity their token carries, with `createdAt: null`.
     */
    me: {
      rest: "GET /users/me",
      params: {},
      async handler(this: UsersThis, ctx: AuthContext): Promise<User | (Omit<User, "createdAt"> & { createdAt: null })> {
        const user = currentUser(ctx);
        const row = await this.findRow(user.id);
        if (row) return publicUser(row);
        return { id: user.id, email: user.email, name: user.name, roles: user.roles, createdAt: null };
      },
    },

    /**
     * Changes the caller's name, email or password. Email and password need the current password
     * (a stolen access token alone must not take the account over); a new password also signs out
     * every session by revoking all refresh tokens.
     */
    updateMe: {
      rest: "PUT /users/me",
      params: {
        name: { ...userParams.name, optional: true },
        email: { ...userParams.email, optional: true },
        password: { ...userParams.password, optional: true },
        currentPassword: { type: "string", max: PASSWORD_MAX_LENGTH, optional: true },
      },
      async handler(
        this: UsersThis,
        ctx: AuthContext<{ name?: string; email?: string; password?: string; currentPassword?: string }>,
      ): Promise<User> {
        const { name, password, currentPassword } = ctx.params;
        const email = ctx.params.email === undefined ? undefined : normaliseEmail(ctx.params.email);
        if (name === undefined && email === undefined && password === undefined) {
          const message = "Send at least one of name, email, password.";
          throw badRequest(message, { fields: ["name", "email", "password"].map((field) => ({ field, message, type: "required" })) });
        }
        const row = await this.findRow(currentUser(ctx).id);
        if (!row) throw notFound("User");

        const changes: Partial<Record<keyof UserRow, unknown>> = { updated_at: new Date() };
        if (name !== undefined) changes.name = name;
        if (email !== undefined && email !== row.email) changes.email = email;
        if (changes.email !== undefined || password !== undefined) {
          if (currentPassword === undefined) {
            throw badRequest("Send currentPassword to change the email or password.", {
              fields: [{ field: "currentPassword", message: "Required to change the email or password.", type: "required" }],
            });
          }
          if (!(await verifyPassword(currentPassword, row.password_hash))) {
            throw new ApiError(403, "INVALID_CURRENT_PASSWORD", "The current password is wrong.");
          }
        }
        if (password !== undefined) changes.password_hash = await hashPassword(password);

        let updated: UserRow;
        try {
          // Guarded by the hash read above: a concurrent password change wins, this one is retried by the user.
          [updated] = (await this.db("users").where({ id: row.id, password_hash: row.password_hash }).update(changes).returning("*")) as UserRow[];
        } catch (err) {
          if (isUniqueViolation(err)) throw emailTaken();
          throw err;
        }
        if (!updated) throw conflict("CONCURRENT_UPDATE", "The account changed meanwhile; try again.");
        if (changes.password_hash !== undefined) await ctx.call("auth.revokeAll", { userId: row.id });
        return publicUser(updated);
      },
    },
  },

  methods: {
    async findRow(this: UsersThis, id: string, trx?: Knex.Transaction): Promise<UserRow | undefined> {
      const q = (trx ?? this.db)("users").where({ id });
      return (await (trx ? q.forUpdate() : q).first()) as UserRow | undefined;
    },
  },
};

export default UsersService;
