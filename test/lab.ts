// The loopback lab: real daemons (Knot, Unbound, …) started per test file on free loopback
// ports, each with its own config and run directory, stopped when the file ends.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { openSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { requireTool } from "./tools";

/** A TCP port on 127.0.0.1 that was free a moment ago (also used for UDP by the DNS daemons). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ""}`);
}

/** A daemon running in the foreground as a child of the test, its output in `<dir>/<name>.log`. */
export class Daemon {
  private constructor(
    readonly name: string,
    readonly logFile: string,
    private readonly child: ChildProcess,
  ) {}

  static start(name: string, command: string, args: readonly string[], dir: string): Daemon {
    requireTool(command);
    const logFile = join(dir, `${name}.log`);
    const log = openSync(logFile, "a");
    const child = spawn(command, [...args], { cwd: dir, stdio: ["ignore", log, log] });
    return new Daemon(name, logFile, child);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

export interface DnsAnswer {
  readonly status: string;
  readonly flags: readonly string[];
  readonly answers: readonly { name: string; ttl: number; type: string; data: string }[];
}

/** Queries a DNS server with kdig (DNSSEC OK bit set) and parses status, flags and answers. */
export function kdig(port: number, name: string, type: string): DnsAnswer {
  requireTool("kdig");
  const output = execFileSync(
    "kdig",
    [`@127.0.0.1`, "-p", String(port), "+dnssec", "+retry=1", "+timeout=3", name, type],
    {
      encoding: "utf8",
    },
  );
  const status = /status: ([A-Z]+)/.exec(output)?.[1] ?? "UNKNOWN";
  const flags = (/;; Flags: ([a-z ]+);/.exec(output)?.[1] ?? "").trim().split(/\s+/);
  const section = output.split(";; ANSWER SECTION:")[1]?.split(/\n\n|\n;;/)[0] ?? "";
  const answers = section
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line) => {
      const [owner, ttl, , rrtype, ...rest] = line.split(/\s+/);
      return { name: owner ?? "", ttl: Number(ttl), type: rrtype ?? "", data: rest.join(" ") };
    });
  return { status, flags, answers };
}
