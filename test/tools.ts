// Tests that need a system tool call requireTool: a missing tool fails the test loudly
// (scripts/system-deps.sh installs them); it never turns into a skipped test.
import { accessSync, constants } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import { runOk } from "./support/exec";
import type { RevivedOperation } from "./support/run-revived";

const checked = new Map<string, boolean>();

export function requireTool(command: string): void {
  let present = checked.get(command);
  if (present === undefined) {
    // A command on PATH, or an absolute path to an executable (looked up without a child process).
    const candidates = isAbsolute(command)
      ? [command]
      : (process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, command));
    present = candidates.some((candidate) => {
      try {
        accessSync(candidate, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    checked.set(command, present);
  }
  if (!present) {
    throw new Error(
      `${command} is not installed; run scripts/system-deps.sh (it installs the packages in system-deps.txt)`,
    );
  }
}

export interface SerializedProvider {
  readonly name: string;
  readonly text: string;
  readonly check?: unknown;
}

/**
 * Serializes the dynamic providers in a separate Node process that loads TypeScript as CommonJS,
 * as the Pulumi CLI does, and returns their code and the revived providers' check results.
 */
export async function serializeProviders(probe: Readonly<Record<string, unknown>>): Promise<SerializedProvider[]> {
  const root = join(__dirname, "..");
  const output = await runOk(
    process.execPath,
    ["--require", "tsx/cjs", join(root, "test", "support", "serialize-providers.ts"), JSON.stringify(probe)],
    { cwd: root },
  );
  return output
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as SerializedProvider);
}

/** What one operation on a revived provider gave: its result, or the message of what it threw. */
export interface RevivedResult {
  readonly ok?: { id?: string; outs?: Record<string, unknown>; props?: Record<string, unknown> } | null;
  readonly error?: string;
  /** The thrown error's name (the provider error classes set it, see providers/rest.ts keepErrorFields). */
  readonly name?: string;
}

/**
 * Serializes one provider of test/support/providers.ts as `pulumi up` does, loads it back in a
 * CommonJS process like the dynamic provider host and runs `operations` on it (inputs on stdin,
 * never on a command line: they carry secrets). See test/support/run-revived.ts.
 */
export async function runRevived(
  provider:
    "mailcowProvider" | "pfSenseProvider" | "pfSenseRemoteSyslogProvider" | "pfSenseUserProvider" | "proxmoxProvider",
  operations: readonly RevivedOperation[],
  /** Load the provider this many times and start all operations at once (see run-revived.ts). */
  concurrentCopies?: number,
): Promise<RevivedResult[]> {
  const root = join(__dirname, "..");
  const output = await runOk(
    process.execPath,
    [
      "--require",
      "tsx/cjs",
      join(root, "test", "support", "run-revived.ts"),
      provider,
      ...(concurrentCopies ? [String(concurrentCopies)] : []),
    ],
    { cwd: root, input: JSON.stringify(operations) },
  );
  return output
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as RevivedResult);
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown> | undefined): Promise<Error> {
  const error = await (promise ?? Promise.resolve()).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error(`expected a rejection with an Error, got ${String(error)}`);
  return error;
}

/**
 * The Python of a PyPI tool's virtualenv (sslyze, checkdmarc) that scripts/python-deps.sh
 * installs; a missing one fails the test with the command to run.
 */
export function requirePythonTool(tool: "sslyze" | "checkdmarc"): string {
  const dir = process.env.MAILSTACK_PYTHON_TOOLS ?? join(__dirname, "..", ".tools", "python");
  const python = join(dir, tool, "bin", "python");
  try {
    accessSync(python, constants.X_OK);
  } catch {
    throw new Error(`${tool} is not installed in ${join(dir, tool)}; run scripts/python-deps.sh`);
  }
  return python;
}
