/**
 * `npm run repl` as an operator uses it: a separate process joins a running cluster over NATS
 * (same TRANSPORTER and NAMESPACE), without services, and its commands reach the seat actors.
 */
import { ChildProcess, spawn } from "child_process";
import path from "path";
import { NATS_URL, randomSuffix, waitFor } from "../helpers/infra";
import { startTestNode, TestNode } from "../helpers/node";

const ROOT = path.resolve(__dirname, "../..");

describe("operators' REPL joining a cluster", () => {
  const namespace = `tf-repl-${randomSuffix()}`;
  let node: TestNode;
  let repl: ChildProcess | undefined;
  let output = "";
  let sessionId: string;

  beforeAll(async () => {
    node = await startTestNode({ services: ["seats"], env: { TRANSPORTER: NATS_URL, NAMESPACE: namespace, SEED_DEMO: "1", NODE_ID: `seats-${randomSuffix()}` }, seed: true });
    const db = await node.platform.db();
    sessionId = (await db("sessions").where({ status: "scheduled" }).orderBy("id").first()).id;
  });
  afterAll(async () => {
    if (repl && repl.exitCode === null) repl.kill("SIGKILL");
    await node?.stop();
  });

  it("lists the owners, shows a summary and exits on .exit", async () => {
    repl = spawn(path.join(ROOT, "node_modules/.bin/tsx"), ["src/platform/repl.ts"], {
      cwd: ROOT,
      env: { ...process.env, TRANSPORTER: NATS_URL, NAMESPACE: namespace, LOG_LEVEL: "warn" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    repl.stdout!.on("data", (b: Buffer) => (output += b.toString()));
    repl.stderr!.on("data", (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => repl!.once("exit", (code) => resolve(code)));
    const until = (what: string, test: () => boolean) => waitFor(`${what}; REPL output:\n${output}`, async () => test(), 60_000);

    await until("the prompt", () => output.includes("tf $"));
    repl.stdin!.write(`session ${sessionId}\n`);
    await until("the summary", () => output.includes(`"epoch"`));
    // The owner is whichever seats node the session hashes to (test:cluster adds a peer broker).
    const owner = /"nodeID": "([^"]+)"/.exec(output)![1];
    expect([node.broker.nodeID, `${node.broker.nodeID}-peer`]).toContain(owner);
    repl.stdin!.write("sessions\n");
    await until("the owners", () => output.includes(`${owner}: 1 live session`));
    expect(output).toContain(sessionId);
    repl.stdin!.write("session no-such-session\n");
    await until("the service's error", () => /error 404 \w+/.test(output));
    repl.stdin!.write(".exit\n");
    expect(await exited).toBe(0);
  });
});
