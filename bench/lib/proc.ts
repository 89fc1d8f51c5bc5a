/**
 * Child processes of the bench: platform nodes, ceiling servers and load workers. Each runs as
 * `node --import tsx <script>` (one process, so its pid is the server's own: RSS and CPU profiles
 * belong to it). Output goes to a log file under the run's temp dir; the last lines are kept for
 * error messages. Every child is killed when the bench exits, however it exits.
 */
import { ChildProcess, spawn } from "child_process";
import fs from "fs";
import net from "net";
import path from "path";

export const ROOT = path.resolve(__dirname, "../..");
const live = new Set<ChildProcess>();

function killAll() {
  for (const c of live) {
    try {
      c.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

export interface ChildOptions {
  name: string;
  script: string;
  args?: string[];
  env?: Record<string, string | undefined>;
  logDir: string;
  nodeFlags?: string[];
}

export class Child {
  readonly proc: ChildProcess;
  readonly logFile: string;
  private tail: string[] = [];
  private lineWaiters: Array<(line: string) => boolean> = [];
  exited: Promise<number | null>;

  constructor(readonly opts: ChildOptions) {
    this.logFile = path.join(opts.logDir, `${opts.name}.log`);
    const log = fs.createWriteStream(this.logFile, { flags: "a" });
    this.proc = spawn(process.execPath, [...(opts.nodeFlags ?? []), "--import", "tsx", opts.script, ...(opts.args ?? [])], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: "", ...opts.env } as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    live.add(this.proc);
    let partial = "";
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      const text = partial + chunk.toString();
      const lines = text.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        this.tail.push(line);
        if (this.tail.length > 60) this.tail.shift();
        this.lineWaiters = this.lineWaiters.filter((w) => !w(line));
      }
    };
    this.proc.stdout!.on("data", onData);
    this.proc.stderr!.on("data", onData);
    this.exited = new Promise((resolve) =>
      this.proc.once("exit", (code) => {
        live.delete(this.proc);
        log.end();
        resolve(code);
      }),
    );
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  lastLines(n = 25): string {
    return this.tail.slice(-n).join("\n");
  }

  /** Resolves with the first stdout/stderr line that parses as JSON, i.e. the child's "I am ready" line. */
  waitForJsonLine<T = Record<string, unknown>>(timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.opts.name} did not start in ${timeoutMs} ms:\n${this.lastLines()}`)), timeoutMs);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.opts.name} exited with ${code}:\n${this.lastLines()}`));
      });
      this.lineWaiters.push((line) => {
        if (!line.startsWith("{")) return false;
        try {
          const value = JSON.parse(line) as T;
          clearTimeout(timer);
          resolve(value);
          return true;
        } catch {
          return false;
        }
      });
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited in `graceMs`. */
  async stop(graceMs = 15_000): Promise<number | null> {
    if (!this.running) return this.proc.exitCode;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}
