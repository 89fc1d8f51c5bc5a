/**
 * Ceiling 1: the fastest answer this machine's Node can give over HTTP, a bare `http` server
 * returning a constant. Every other rate in the report is read against it and the no-op route.
 * Prints `{"port": n}` on stdout once listening.
 */
import http from "http";
import { AddressInfo } from "net";

const body = JSON.stringify({ ok: true });
const server = http.createServer((_req, res) => {
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + "\n");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
