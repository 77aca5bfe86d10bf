// Tests that need a system tool call requireTool: a missing tool fails the test loudly
// (scripts/system-deps.sh installs them); it never turns into a skipped test.
import { execFileSync } from "node:child_process";
import { join } from "node:path";

const checked = new Map<string, boolean>();

export function requireTool(command: string): void {
  let present = checked.get(command);
  if (present === undefined) {
    try {
      // A command on PATH, or an absolute path to an executable.
      execFileSync("sh", ["-c", 'case "$1" in /*) test -x "$1" ;; *) command -v "$1" ;; esac', "sh", command], {
        stdio: "ignore",
      });
      present = true;
    } catch {
      present = false;
    }
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
export function serializeProviders(probe: Readonly<Record<string, unknown>>): SerializedProvider[] {
  const root = join(__dirname, "..");
  const output = execFileSync(
    process.execPath,
    ["--require", "tsx/cjs", join(root, "test", "support", "serialize-providers.ts"), JSON.stringify(probe)],
    {
      cwd: root,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return output
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as SerializedProvider);
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
