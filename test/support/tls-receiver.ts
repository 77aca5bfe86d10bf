// A TLS receiver for the logging lab: accepts TLS connections on 127.0.0.1:<port> with the given
// certificate and key and appends everything received to <output> as it arrives; prints "ready".
// Run inside a test network namespace: node --require tsx/cjs tls-receiver.ts PORT CERT KEY OUTPUT
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:tls";

const [port = "", certFile = "", keyFile = "", output = ""] = process.argv.slice(2);
writeFileSync(output, "");
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (socket) => {
  socket.on("data", (chunk: Buffer) => appendFileSync(output, chunk));
  socket.on("error", () => undefined);
});
server.on("tlsClientError", () => undefined);
server.listen(Number(port), "127.0.0.1", () => process.stdout.write("ready\n"));
