// Child processes for the tests, always asynchronous: a synchronous spawn blocks the vitest worker's
// event loop, and on a loaded machine its RPC to the main process then times out
// ("Timeout calling onTaskUpdate"). Every test and helper runs commands through these.
import { spawn, type SpawnOptions } from "node:child_process";

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Written to the command's stdin (then closed). */
  readonly input?: string | Buffer;
  /** Kill the command after this long (it then fails with a message saying so). */
  readonly timeoutMs?: number;
}

export interface RunResult {
  /** The exit code, or null when a signal ended the command. */
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout as bytes (for binary output such as DER). */
  readonly stdoutBytes: Buffer;
}

/** Runs a command to its end and reports how it ended; never throws for a non-zero exit. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const spawnOptions: SpawnOptions = {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env } : {}),
    stdio: ["pipe", "pipe", "pipe"],
  };
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], spawnOptions);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, options.timeoutMs);
    child.stdout?.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", (error) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`${command}: ${error.message}`));
    });
    child.on("close", (status, signal) => {
      if (timer) clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      const stderr = Buffer.concat(err).toString("utf8");
      resolve({
        status,
        signal,
        stdout: stdoutBytes.toString("utf8"),
        stderr: timedOut ? `${stderr}\n(killed after ${options.timeoutMs} ms)` : stderr,
        stdoutBytes,
      });
    });
    // A command that exits without reading its input must not fail the run with EPIPE.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(options.input);
  });
}

/** Runs a command that must succeed; returns its stdout, or throws with its stderr. */
export async function runOk(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed (${result.status === null ? `signal ${String(result.signal)}` : `exit ${result.status}`}):\n${result.stderr}${result.stdout}`,
    );
  }
  return result.stdout;
}
