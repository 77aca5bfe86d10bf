// Tries TCP connections to the given targets at once and prints one JSON line of results:
// "open" (connected), "refused" (RST) or "filtered" (no answer within the timeout).
// Run inside a test network namespace: node --require tsx/cjs probe.ts '[{"host":"10.0.0.1","port":25}]'
import { connect } from "node:net";

interface Target {
  readonly host: string;
  readonly port: number;
  /** Local address to connect from (the namespace may hold several). */
  readonly from?: string;
}

const targets = JSON.parse(process.argv[2] ?? "[]") as Target[];
const timeoutMs = Number(process.argv[3] ?? "1500");

function probe(target: Target): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({
      host: target.host,
      port: target.port,
      ...(target.from ? { localAddress: target.from } : {}),
    });
    const done = (result: string) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done("filtered"));
    socket.on("connect", () => done("open"));
    socket.on("error", (error: NodeJS.ErrnoException) =>
      done(error.code === "ECONNREFUSED" ? "refused" : `error:${error.code ?? "?"}`),
    );
  });
}

void Promise.all(targets.map(async (target) => ({ ...target, result: await probe(target) }))).then((results) => {
  process.stdout.write(`${JSON.stringify(results)}\n`);
});
