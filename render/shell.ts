// Shell programs live in render/scripts/*.sh, where shellcheck, editors and reviewers see them as
// bash. A renderer supplies only values: a header of `readonly NAME='value'` lines placed after
// the script's shebang and comment block. No logic is ever spliced into a script.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const SCRIPT_DIR = join(__dirname, "scripts");

/** A shell program of render/scripts by name (without .sh). */
export function scriptSource(name: string): string {
  if (!/^(lib\/)?[a-z0-9-]+$/.test(name)) throw new Error(`invalid script name ${name}`);
  return readFileSync(join(SCRIPT_DIR, `${name}.sh`), "utf8");
}

/**
 * A single-quoted shell word. Refuses values that cannot be one line, without echoing the value
 * (it may be a secret).
 */
export function shellQuote(value: string): string {
  if (/[\n\r\0]/.test(value)) throw new Error("a shell value must be one line (it contains a line break or NUL)");
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A shell variable name for the settings header. */
function checkedName(name: string): string {
  if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new Error(`invalid shell variable name ${name}`);
  return name;
}

export type ShellSettings = Readonly<Record<string, string | number | boolean | readonly string[]>>;

/** `readonly NAME='value'` lines (lists become bash arrays); booleans are 1 or 0. */
export function settingsHeader(settings: ShellSettings): string {
  return Object.entries(settings)
    .map(([name, value]) => {
      const word = (v: string | number | boolean) => shellQuote(typeof v === "boolean" ? (v ? "1" : "0") : String(v));
      return Array.isArray(value)
        ? `readonly ${checkedName(name)}=(${(value as readonly string[]).map(word).join(" ")})`
        : `readonly ${checkedName(name)}=${word(value as string | number | boolean)}`;
    })
    .join("\n");
}

/** The base64 of a file's content, as scripts take it in `*_B64` settings. */
export function b64(content: string): string {
  return Buffer.from(content).toString("base64");
}

/**
 * The script `name` with `settings` inserted after its leading comment block (the part a reader
 * sees first stays the script's own description), followed by the library `library` of
 * render/scripts/lib/ when one is named (helpers the script calls).
 */
export function renderScript(name: string, settings: ShellSettings, library?: "host" | "backup" | "tool"): string {
  const lines = scriptSource(name).split("\n");
  let end = 0;
  while (end < lines.length && (lines[end]?.startsWith("#") ?? false)) end++;
  const header = settingsHeader(settings);
  const lib = library ? scriptSource(`lib/${library}`).split("\n") : [];
  return [
    ...lines.slice(0, end),
    "# ---- settings rendered by mailstack ----",
    ...(header ? [header] : []),
    ...(lib.length > 0 ? [`# ---- render/scripts/lib/${library ?? ""}.sh ----`, ...lib] : []),
    "# ---- the script ----",
    ...lines.slice(end),
  ].join("\n");
}
