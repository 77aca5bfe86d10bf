// Network namespaces for the lab tests: commands inside a namespace, long-running helpers that
// report "ready", TCP listeners and connection probes (listen.ts, probe.ts), and teardown.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { root } from "../plans";
import { run, runOk } from "./exec";

/** Runs a command inside namespace `ns` and returns its stdout. */
export function inNs(ns: string, ...command: string[]): Promise<string> {
  return runOk("ip", ["netns", "exec", ns, ...command]);
}

/** Feeds `input` to a command inside namespace `ns` (e.g. `nft -f -`). */
export async function inNsWithInput(ns: string, input: string, ...command: string[]): Promise<void> {
  await runOk("ip", ["netns", "exec", ns, ...command], { input });
}

/** The node command line for a script under test/support. */
function supportScript(script: string): [string, string[]] {
  return [process.execPath, ["--require", "tsx/cjs", join(root, "test", "support", script)]];
}

/** Processes started in namespaces, killed by `stopAll`. */
export class NetnsLab {
  private readonly children: ChildProcess[] = [];

  constructor(readonly namespaces: readonly string[]) {}

  async create(): Promise<void> {
    for (const ns of this.namespaces) await runOk("ip", ["netns", "add", ns]);
  }

  /** Starts `command` in `ns` and resolves once its output satisfies `ready`. */
  start(ns: string, command: string, args: readonly string[], ready: (output: string) => boolean): Promise<void> {
    const child = spawn("ip", ["netns", "exec", ns, command, ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.push(child);
    let output = "";
    return new Promise<void>((resolve, reject) => {
      const seen = (chunk: Buffer) => {
        output += chunk.toString();
        if (ready(output)) resolve();
      };
      child.stdout?.on("data", seen);
      child.stderr?.on("data", seen);
      child.on("exit", (code) => reject(new Error(`${command} in ${ns} exited with ${String(code)}:\n${output}`)));
    });
  }

  /** Starts a node script under test/support in `ns`, waiting for its "ready". */
  startScript(ns: string, script: string, ...args: string[]): Promise<void> {
    const [node, base] = supportScript(script);
    return this.start(ns, node, [...base, ...args], (output) => output.includes("ready"));
  }

  /** TCP listeners on `ports` (IPv4 and IPv6) in `ns`. */
  listen(ns: string, ports: readonly number[]): Promise<void> {
    return this.startScript(ns, "listen.ts", JSON.stringify([...new Set(ports)]));
  }

  /** Kills every started process and deletes the namespaces (one already gone is fine). */
  async destroy(): Promise<void> {
    for (const child of this.children) child.kill("SIGKILL");
    for (const ns of this.namespaces) await run("ip", ["netns", "del", ns]);
  }
}

/**
 * Waits until `port` of `host` answers "open" from `ns` (optionally from a source address): a fresh
 * veth link needs a moment (IPv6 duplicate detection, neighbour discovery) before its first
 * connection succeeds, and a probe before that says EHOSTUNREACH instead of what the rules do.
 */
export async function settle(ns: string, host: string, port: number, from?: string): Promise<void> {
  for (let attempt = 0; attempt < 150; attempt++) {
    const result = (await probe(ns, host, [port], from ? { from } : {}))[port];
    if (result === "open") return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${host}:${port} never answered from ${ns}${from ? ` (${from})` : ""}`);
}

/** Connects from `ns` to every port of `host` at once: port → "open", "refused" or "filtered". */
export async function probe(
  ns: string,
  host: string,
  ports: readonly number[],
  options: { from?: string; timeoutMs?: number } = {},
): Promise<Record<number, string>> {
  const [node, base] = supportScript("probe.ts");
  const targets = JSON.stringify(
    ports.map((port) => ({ host, port, ...(options.from ? { from: options.from } : {}) })),
  );
  const output = await runOk("ip", ["netns", "exec", ns, node, ...base, targets, String(options.timeoutMs ?? 1200)], {
    cwd: root,
  });
  return Object.fromEntries((JSON.parse(output) as { port: number; result: string }[]).map((r) => [r.port, r.result]));
}
