// A stand-in for CrowdSec's local API (LAPI) decision stream, for the firewall bouncer under test:
// GET /v1/decisions/stream answers the given ban decisions at startup and nothing new after.
// Requests without the bouncer's key are refused, as the LAPI does. Prints "ready".
// Run inside a test network namespace: node --require tsx/cjs lapi.ts PORT KEY '["203.0.113.66"]'
import { createServer } from "node:http";

const port = Number(process.argv[2]);
const key = process.argv[3] ?? "";
const banned = JSON.parse(process.argv[4] ?? "[]") as string[];

createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.headers["x-api-key"] !== key) return reply(403, { message: "access forbidden" });
  if (url.pathname !== "/v1/decisions/stream") return reply(404, { message: "not found" });
  const startup = url.searchParams.get("startup") === "true";
  const decisions = banned.map((value, index) => ({
    id: index + 1,
    origin: "crowdsec",
    scenario: "crowdsecurity/postfix-spam",
    scope: "Ip",
    type: "ban",
    value,
    duration: "3h59m",
  }));
  return reply(200, { new: startup ? decisions : null, deleted: null });
}).listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
