// The loopback lab: real daemons (Knot, Unbound, …) started per test file on free loopback
// ports, each with its own config and run directory, stopped when the file ends.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, openSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { run, runOk } from "./support/exec";
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
  timeoutMs = 90_000,
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

  static start(name: string, command: string, args: readonly string[], dir: string, env?: NodeJS.ProcessEnv): Daemon {
    requireTool(command);
    const logFile = join(dir, `${name}.log`);
    const log = openSync(logFile, "a");
    const child = spawn(command, [...args], { cwd: dir, stdio: ["ignore", log, log], env: { ...process.env, ...env } });
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
export async function kdig(port: number, name: string, type: string): Promise<DnsAnswer> {
  requireTool("kdig");
  const output = await runOk("kdig", [
    `@127.0.0.1`,
    "-p",
    String(port),
    "+dnssec",
    "+retry=1",
    "+timeout=3",
    name,
    type,
  ]);
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

/** True when something accepts TCP connections on 127.0.0.1:`port` (undefined otherwise, for waitFor). */
export function tcpOpen(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(undefined));
  });
}

/** "key = value" lines of a Postfix parameter file, as `postconf -e` arguments. */
export function postconfArguments(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith("#"))
    .map((line) => line.replace(/\s*=\s*/, "="));
}

/**
 * A real Postfix on 127.0.0.1:`port` with its own config, queue and log under `dir`, started
 * from a copy of the system's configuration plus `settings` (postconf -e arguments).
 */
export async function startPostfix(
  dir: string,
  port: number,
  settings: readonly string[],
): Promise<{ stop: () => Promise<void>; log: string }> {
  requireTool("postfix");
  requireTool("postconf");
  const conf = join(dir, "postfix");
  const queue = join(dir, "queue");
  const data = join(dir, "data");
  const log = join(dir, "maillog");
  // Postfix's own processes run as the postfix user: they must be able to enter the directory.
  chmodSync(dir, 0o755);
  await runOk("cp", ["-r", "/etc/postfix", conf]);
  await runOk("install", ["-d", "-o", "postfix", data]);
  await runOk("install", ["-d", queue]);
  await runOk("postconf", [
    "-c",
    conf,
    "-e",
    "inet_interfaces=127.0.0.1",
    "inet_protocols=ipv4",
    `queue_directory=${queue}`,
    `data_directory=${data}`,
    `maillog_file=${log}`,
    `maillog_file_prefixes=${dir}`,
    "mydestination=",
    "compatibility_level=3.6",
    ...settings,
  ]);
  // The smtp service on the test port, without chroot.
  const master = join(conf, "master.cf");
  await runOk("sed", ["-i", `s/^smtp      inet  n       -       y/${port}      inet  n       -       n/`, master]);
  await runOk("postfix", ["-c", conf, "start"]);
  // Stopping an already stopped Postfix is fine.
  const stop = async (): Promise<void> => void (await run("postfix", ["-c", conf, "stop"]));
  await waitFor(`Postfix on port ${port}`, () => tcpOpen(port));
  return { stop, log };
}

/** A self-signed certificate for `host` on the given key; writes the key to `<dir>/<name>.key`. */
export async function selfSignedCertificate(
  dir: string,
  name: string,
  keyPem: string,
  host: string,
): Promise<{ pem: string; keyFile: string }> {
  requireTool("openssl");
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  const args = [
    "req",
    "-x509",
    "-new",
    "-key",
    keyFile,
    "-subj",
    `/CN=${host}`,
    "-addext",
    `subjectAltName=DNS:${host}`,
    "-days",
    "2",
  ];
  return { pem: await runOk("openssl", args), keyFile };
}
