/**
 * Reads a stopped embedded node's database (PGlite under its data directory) in a process of its
 * own, so that PGlite's memory stays out of the jest worker. As a script:
 * `node --import tsx test/helpers/embedded-db.ts <dataDir>` with a request on stdin, the answer
 * as JSON on stdout.
 */
import { execFileSync } from "child_process";
import fs from "fs";
import path from "path";
import type { AckedHolds, CorrectnessReport } from "../../bench/lib/correctness";

export interface EmbeddedDbRequest {
  /** Statements by name; each answers its rows. */
  queries?: Record<string, { sql: string; params?: unknown[] }>;
  /** Run the benchmark's invariant checks (bench/lib/correctness.ts) with these acknowledged holds. */
  check?: AckedHolds;
}

export interface EmbeddedDbAnswer {
  rows: Record<string, any[]>;
  report?: CorrectnessReport;
}

export function readEmbeddedDatabase(dataDir: string, request: EmbeddedDbRequest): EmbeddedDbAnswer {
  const out = execFileSync(process.execPath, ["--import", "tsx", __filename, dataDir], { input: JSON.stringify(request), cwd: path.resolve(__dirname, "../.."), env: { ...process.env, NODE_OPTIONS: "" }, maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(out.toString()) as EmbeddedDbAnswer;
}

async function main(dataDir: string) {
  const request = JSON.parse(fs.readFileSync(0, "utf8")) as EmbeddedDbRequest;
  const { PGlite } = await import("@electric-sql/pglite");
  const { checkDatabase } = await import("../../bench/lib/correctness");
  const db = await PGlite.create({ dataDir: path.join(dataDir, "pg") });
  try {
    const q = async (sql: string, params?: unknown[]) => (await db.query<Record<string, unknown>>(sql, params)).rows;
    const answer: EmbeddedDbAnswer = { rows: {} };
    for (const [name, { sql, params }] of Object.entries(request.queries ?? {})) answer.rows[name] = await q(sql, params);
    if (request.check) answer.report = await checkDatabase(q, request.check);
    process.stdout.write(JSON.stringify(answer));
  } finally {
    await db.close();
  }
}

if (require.main === module) {
  main(process.argv[2]).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
