/**
 * The operators' REPL commands against a real node (seats actors on the embedded database with
 * the demo catalog). The REPL process joining a cluster over NATS is tested in test/cluster.
 */
import { replCommands } from "../../src/platform/repl";
import { startTestNode, TestNode } from "../helpers/node";

describe("operators' REPL commands", () => {
  let node: TestNode;
  let sessionId: string;
  let lines: string[];
  const commands = replCommands((line) => lines.push(line));
  const run = async (name: string, args: Record<string, unknown> = {}) => {
    lines = [];
    const cmd = commands.find((c) => c.command.split(" ")[0] === name);
    if (!cmd) throw new Error(`no command ${name}`);
    await cmd.action(node.broker, args);
    return lines.join("\n");
  };

  beforeAll(async () => {
    node = await startTestNode({ env: { SEED_DEMO: "1" }, seed: true });
    const db = await node.platform.db();
    const row = await db("sessions").where({ status: "scheduled" }).orderBy("id").first();
    sessionId = row.id;
  });
  afterAll(() => node.stop());

  it("declares the commands with moleculer-repl's argument syntax", () => {
    expect(commands.map((c) => c.command)).toEqual(["sessions", "session <id>", "passivate <id>", "move <id> [nodeID]"]);
  });

  it("shows no live sessions on a fresh node, then the one an operator looked at", async () => {
    expect(await run("sessions")).toBe(`${node.broker.nodeID}: 0 live sessions`);
    const summary = JSON.parse(await run("session", { id: sessionId }));
    expect(summary).toMatchObject({ sessionId, nodeID: node.broker.nodeID, epoch: expect.any(Number) });
    const listed = await run("sessions");
    expect(listed.split("\n")[0]).toBe(`${node.broker.nodeID}: 1 live session`);
    expect(listed).toContain(sessionId);
  });

  it("passivates a session and activates it again with a new epoch on move", async () => {
    const before = JSON.parse(await run("session", { id: sessionId }));
    expect(JSON.parse(await run("passivate", { id: sessionId }))).toMatchObject({ sessionId, passivated: true });
    expect(await run("sessions")).toBe(`${node.broker.nodeID}: 0 live sessions`);
    const moved = JSON.parse(await run("move", { id: sessionId }));
    expect(moved).toMatchObject({ sessionId, nodeID: node.broker.nodeID });
    expect(moved.epoch).toBeGreaterThan(before.epoch);
  });

  it("prints the service's error instead of throwing", async () => {
    expect(await run("session", { id: "no-such-session" })).toMatch(/^error 404 \w+: /);
    expect(await run("move", { id: sessionId, nodeID: "some-other-node" })).toMatch(/^error 409 NOT_OWNER: /);
    expect(await run("passivate", { id: "x".repeat(500) })).toMatch(/^error 4\d\d \w+: /);
  });
});
