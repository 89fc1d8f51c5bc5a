/** The user as the API shows it, and the rules every path that writes a user shares. */
import { Role, ROLES } from "../platform/auth";

export interface User {
  id: string;
  email: string;
  name: string;
  roles: Role[];
  createdAt: string;
}

/** A row of the `users` table (accounts migration). */
export interface UserRow {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  roles: string[];
  created_at: Date;
  updated_at: Date;
}

export const DEFAULT_ROLES: Role[] = ["buyer"];

/** One account per mailbox however it is typed: compared and stored lower-cased and trimmed. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Roles in a stable order without duplicates or unknown names. */
export function normaliseRoles(roles: readonly string[]): Role[] {
  return ROLES.filter((r) => roles.includes(r));
}

/** Never includes the password hash. */
export function publicUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    roles: normaliseRoles(row.roles),
    createdAt: new Date(row.created_at).toISOString(),
  };
}
