// Accepts TCP connections on the given ports (IPv4 and IPv6) until killed; prints "ready".
// Run inside a test network namespace: node --require tsx/cjs listen.ts '[25, 80]'
import { createServer } from "node:net";

const ports = JSON.parse(process.argv[2] ?? "[]") as number[];
let pending = ports.length;
for (const port of ports) {
  const server = createServer((socket) => {
    socket.on("error", () => undefined); // probes hang up at once
    socket.end("hello\n");
  });
  // "::" with dual-stack sockets takes IPv4 too.
  server.listen({ port, host: "::", ipv6Only: false }, () => {
    if (--pending === 0) process.stdout.write("ready\n");
  });
}
