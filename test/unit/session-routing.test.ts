import { pickOwner } from "../../src/seats/routing";

describe("session routing (rendezvous hashing)", () => {
  const sessions = Array.from({ length: 3000 }, (_, i) => `session-${i}`);
  const owners = (nodes: string[]) => new Map(sessions.map((s) => [s, pickOwner(nodes, s)]));

  it("spreads sessions over the nodes and agrees whatever the order of the node list", () => {
    const a = owners(["n1", "n2", "n3"]);
    const b = owners(["n3", "n1", "n2"]);
    expect([...a]).toEqual([...b]);
    const counts = new Map<string, number>();
    for (const o of a.values()) counts.set(o!, (counts.get(o!) ?? 0) + 1);
    for (const n of ["n1", "n2", "n3"]) expect(counts.get(n)).toBeGreaterThan(800);
  });

  it("moves only the sessions of a node that leaves, and only the ones a new node wins", () => {
    const three = owners(["n1", "n2", "n3"]);
    const two = owners(["n1", "n3"]);
    for (const s of sessions) if (three.get(s) !== "n2") expect(two.get(s)).toBe(three.get(s));
    const four = owners(["n1", "n2", "n3", "n4"]);
    let moved = 0;
    for (const s of sessions) {
      if (four.get(s) !== three.get(s)) {
        expect(four.get(s)).toBe("n4");
        moved++;
      }
    }
    expect(moved).toBeGreaterThan(500);
    expect(moved).toBeLessThan(1000);
  });

  it("has no owner without nodes", () => {
    expect(pickOwner([], "s")).toBeUndefined();
  });
});
