import fs from "fs";
import path from "path";
import { NODE_FLAGS } from "../../src/platform/node-flags";

const ROOT = path.resolve(__dirname, "../..");

describe("the Node flags every node runs with", () => {
  it("are the same for npm start, npm run node and the Docker image as for the bench's nodes", () => {
    const scripts = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).scripts;
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(fs.readFileSync(path.join(ROOT, "Dockerfile"), "utf8"))?.[1];
    expect(entrypoint).toBeDefined();
    const launches: Record<string, string[]> = {
      "npm start": scripts.start.split(/\s+/),
      "npm run node": scripts.node.split(/\s+/),
      Dockerfile: JSON.parse(entrypoint!),
    };
    expect(NODE_FLAGS.length).toBeGreaterThan(0);
    for (const [launch, argv] of Object.entries(launches)) {
      const main = argv.indexOf("src/platform/main.ts");
      expect({ launch, flags: argv.slice(0, main).filter((a) => a.startsWith("--")) }).toEqual({ launch, flags: [...NODE_FLAGS] });
    }
  });
});
