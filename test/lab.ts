// The loopback lab: real daemons (Knot, Unbound, …) started per test file on free loopback
// ports, each with its own config and run directory, stopped when the file ends.
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, chmodSync, mkdirSync, openSync, writeFileSync } from "node:fs";
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
export interface PostfixOptions {
  /** Listen on ::1 too (inet_protocols = all). */
  readonly ipv6?: boolean;
  /** More smtpd services in master.cf: a port and its `-o name=value` overrides. */
  readonly services?: readonly { readonly port: number; readonly overrides: readonly string[] }[];
}

export async function startPostfix(
  dir: string,
  port: number,
  settings: readonly string[],
  options: PostfixOptions = {},
): Promise<{ stop: () => Promise<void>; reload: () => Promise<void>; log: string; conf: string }> {
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
    options.ipv6 ? "inet_interfaces=127.0.0.1, [::1]" : "inet_interfaces=127.0.0.1",
    options.ipv6 ? "inet_protocols=all" : "inet_protocols=ipv4",
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
  const services = (options.services ?? []).map(
    (service) => `${service.port} inet n - n - - smtpd\n${service.overrides.map((o) => `  -o ${o}\n`).join("")}`,
  );
  if (services.length > 0) appendFileSync(master, services.join(""));
  await runOk("postfix", ["-c", conf, "start"]);
  // Stopping an already stopped Postfix is fine.
  const stop = async (): Promise<void> => void (await run("postfix", ["-c", conf, "stop"]));
  const reload = async (): Promise<void> => void (await runOk("postfix", ["-c", conf, "reload"]));
  for (const listening of [port, ...(options.services ?? []).map((service) => service.port)]) {
    await waitFor(`Postfix on port ${listening}`, () => tcpOpen(listening));
  }
  return { stop, reload, log, conf };
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

export interface DovecotOptions {
  readonly cert: string;
  readonly key: string;
  /** Rendered settings (extra.conf), included last like mailcow's !include_try. */
  readonly extraConf: string;
  readonly imaps: number;
  readonly pop3s?: number;
  /** Listen on ::1 too. */
  readonly ipv6?: boolean;
}

/** A real Dovecot with implicit-TLS IMAP (and POP3) listeners under `dir`, static passdb, no mail. */
export async function startDovecot(dir: string, options: DovecotOptions): Promise<Daemon> {
  requireTool("/usr/lib/dovecot/imap-login");
  if (options.pop3s !== undefined) requireTool("/usr/lib/dovecot/pop3-login");
  for (const sub of ["dovecot-run", "dovecot-state", "mail"]) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, "extra.conf"), options.extraConf);
  const listener = (protocol: string, plain: string, secure: string, port: number) =>
    `service ${protocol}-login {\n  inet_listener ${plain} {\n    port = 0\n  }\n  inet_listener ${secure} {\n    port = ${port}\n    ssl = yes\n  }\n}`;
  writeFileSync(
    join(dir, "dovecot.conf"),
    [
      `protocols = imap${options.pop3s !== undefined ? " pop3" : ""}`,
      `listen = 127.0.0.1${options.ipv6 ? ", ::1" : ""}`,
      `base_dir = ${join(dir, "dovecot-run")}`,
      `state_dir = ${join(dir, "dovecot-state")}`,
      `log_path = ${join(dir, "dovecot.log")}`,
      "ssl = required",
      `ssl_cert = <${options.cert}`,
      `ssl_key = <${options.key}`,
      `mail_location = maildir:${join(dir, "mail")}/%u`,
      "passdb {\n  driver = static\n  args = nopassword=y\n}",
      `userdb {\n  driver = static\n  args = uid=nobody gid=nogroup home=${join(dir, "mail")}/%u\n}`,
      listener("imap", "imap", "imaps", options.imaps),
      ...(options.pop3s !== undefined ? [listener("pop3", "pop3", "pop3s", options.pop3s)] : []),
      `!include ${join(dir, "extra.conf")}`,
      "",
    ].join("\n"),
  );
  const daemon = Daemon.start("dovecot", "dovecot", ["-F", "-c", join(dir, "dovecot.conf")], dir);
  for (const port of [options.imaps, ...(options.pop3s !== undefined ? [options.pop3s] : [])]) {
    await waitFor(`Dovecot on port ${port}`, () => tcpOpen(port));
  }
  return daemon;
}

export interface KnotZone {
  readonly name: string;
  /** Knot signs the zone (algorithm 13 by default, like Cloudflare); off: served as written. */
  readonly signed: boolean;
  /** Another signing algorithm (Knot's name, e.g. rsasha256 like the root and most TLDs). */
  readonly algorithm?: "rsasha256" | "ed25519";
}

/** knot.conf for zones in `<dir>/zones/<zone>.zone`, listening on 127.0.0.1@port. */
export function knotConfig(dir: string, port: number, zones: readonly KnotZone[]): string {
  const template = (id: string, signed: boolean) => [
    `  - id: ${id}`,
    `    storage: ${join(dir, "zones")}`,
    '    file: "%s.zone"',
    `    dnssec-signing: ${signed ? "on" : "off"}`,
    "    zonefile-sync: -1",
    `    zonefile-load: ${signed ? "difference-no-serial" : "whole"}`,
    "    journal-content: all",
  ];
  const algorithms = [...new Set(zones.flatMap((zone) => (zone.signed && zone.algorithm ? [zone.algorithm] : [])))];
  return [
    "server:",
    `    listen: 127.0.0.1@${port}`,
    `    rundir: ${join(dir, "knot")}`,
    "database:",
    `    storage: ${join(dir, "knot")}`,
    "template:",
    ...template("default", true),
    ...template("unsigned", false),
    ...(algorithms.length > 0
      ? ["policy:", ...algorithms.flatMap((algorithm) => [`  - id: ${algorithm}`, `    algorithm: ${algorithm}`])]
      : []),
    "zone:",
    ...zones.flatMap((zone) => [
      `  - domain: ${zone.name}`,
      ...(zone.signed ? [] : ["    template: unsigned"]),
      ...(zone.signed && zone.algorithm ? [`    dnssec-policy: ${zone.algorithm}`] : []),
    ]),
    "log:",
    "  - target: stderr",
    "    any: info",
    "",
  ].join("\n");
}

export interface Knot {
  readonly port: number;
  readonly daemon: Daemon;
  readonly config: string;
  /** Rewrites a zone file and waits until Knot serves (and, if signed, signs) it. */
  load(zone: string, text: string): Promise<void>;
  /** The zone's KSK (flags 257) as DNSKEY rdata, once Knot has signed the zone. */
  ksk(zone: string): Promise<string>;
  /** The zone as Knot serves it (signed zones with DNSKEY, RRSIG, NSEC), in presentation form. */
  read(zone: string): Promise<string>;
}

/** Knot serving `zones` (texts by zone name) from `<dir>/zones`, signing the signed ones. */
export async function startKnot(
  parent: string,
  zones: readonly (KnotZone & { readonly text: string })[],
  name = "knot",
): Promise<Knot> {
  const dir = name === "knot" ? parent : join(parent, name);
  mkdirSync(join(dir, "zones"), { recursive: true });
  mkdirSync(join(dir, "knot"), { recursive: true });
  for (const zone of zones) writeFileSync(join(dir, "zones", `${zone.name}.zone`), zone.text);
  const port = await freePort();
  const config = join(dir, "knot.conf");
  writeFileSync(config, knotConfig(dir, port, zones));
  const daemon = Daemon.start(name, "knotd", ["-c", config], dir);
  const ksk = (zone: string) =>
    waitFor(`Knot's KSK for ${zone}`, async () => {
      const key = (await kdig(port, zone, "DNSKEY")).answers.find(
        (a) => a.type === "DNSKEY" && a.data.startsWith("257 "),
      );
      return key?.data;
    });
  await Promise.all(
    zones.map((zone) =>
      zone.signed
        ? ksk(zone.name)
        : waitFor(`Knot serving ${zone.name}`, async () =>
            (await kdig(port, zone.name, "SOA")).status === "NOERROR" ? true : undefined,
          ),
    ),
  );
  return {
    port,
    daemon,
    config,
    ksk,
    async load(zone, text) {
      writeFileSync(join(dir, "zones", `${zone}.zone`), text);
      requireTool("knotc");
      await runOk("knotc", ["-c", config, "-b", "-t", "60", "zone-reload", zone]);
    },
    async read(zone) {
      requireTool("knotc");
      // Lines look like "[zone.] owner ttl TYPE data".
      const text = await runOk("knotc", ["-c", config, "zone-read", zone]);
      return text.replace(/^\[[^\]]*\] /gm, "");
    },
  };
}

export interface UnboundOptions {
  /** Names the config, anchor and pid files. */
  readonly name: string;
  readonly port: number;
  readonly knotPort: number;
  /** Trust anchors in presentation form, one per line. */
  readonly anchors: string;
  /** Zones Unbound asks Knot for. */
  readonly stubs: readonly string[];
  /** Send every other name to Knot too (which refuses it): nothing leaves the loopback. */
  readonly guardRoot?: boolean;
  /** Answer IPv6 clients on ::1 too. */
  readonly ipv6?: boolean;
  /** A control socket for `unbound-control reload` (empties the caches). */
  readonly control?: boolean;
  /** Stubs served by another Knot (zone → port) instead of `knotPort`. */
  readonly stubPorts?: Readonly<Record<string, number>>;
}

export function unboundConfig(dir: string, options: UnboundOptions): string {
  writeFileSync(join(dir, `${options.name}.anchors`), options.anchors);
  const stubs = [...options.stubs, ...(options.guardRoot ? ["."] : [])];
  return [
    "server:",
    "  interface: 127.0.0.1",
    ...(options.ipv6 ? ["  interface: ::1"] : []),
    `  port: ${options.port}`,
    "  do-daemonize: no",
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    `  pidfile: "${join(dir, `${options.name}.pid`)}"`,
    "  use-syslog: no",
    '  logfile: ""',
    "  val-log-level: 2",
    "  ede: yes",
    "  do-not-query-localhost: no",
    `  do-ip6: ${options.ipv6 ? "yes" : "no"}`,
    ...(options.ipv6 ? ["  access-control: ::1 allow"] : []),
    `  trust-anchor-file: "${join(dir, `${options.name}.anchors`)}"`,
    '  module-config: "validator iterator"',
    ...stubs.flatMap((zone) => [
      "stub-zone:",
      `  name: "${zone}"`,
      `  stub-addr: 127.0.0.1@${options.stubPorts?.[zone] ?? options.knotPort}`,
    ]),
    ...(options.control
      ? ["remote-control:", "  control-enable: yes", `  control-interface: "${join(dir, `${options.name}.ctl`)}"`]
      : []),
    "",
  ].join("\n");
}

export interface Unbound {
  readonly port: number;
  readonly daemon: Daemon;
  /** Rereads the config and empties every cache (needs `control`). */
  reload(): Promise<void>;
  /** Asks another Knot (or, without a port, the first one again) for a zone; reloads. */
  restub(zone: string, port?: number): Promise<void>;
}

export async function startUnbound(
  dir: string,
  options: Omit<UnboundOptions, "port">,
  probe: string,
): Promise<Unbound> {
  const port = await freePort();
  const config = join(dir, `${options.name}.conf`);
  writeFileSync(config, unboundConfig(dir, { ...options, port }));
  const daemon = Daemon.start(options.name, "unbound", ["-d", "-c", config], dir);
  // Any answer (a bogus zone answers SERVFAIL) means the resolver is up.
  await waitFor(`an answer from ${options.name}`, async () => ((await kdig(port, probe, "SOA")) ? true : undefined));
  const stubPorts: Record<string, number> = { ...options.stubPorts };
  const reload = async () => {
    requireTool("unbound-control");
    await runOk("unbound-control", ["-c", config, "reload"]);
    await waitFor(`${options.name} after reload`, async () => ((await kdig(port, probe, "SOA")) ? true : undefined));
  };
  return {
    port,
    daemon,
    reload,
    async restub(zone, stubPort) {
      if (stubPort === undefined) delete stubPorts[zone];
      else stubPorts[zone] = stubPort;
      writeFileSync(config, unboundConfig(dir, { ...options, port, stubPorts }));
      await reload();
    },
  };
}
