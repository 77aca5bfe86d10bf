// Reading a rendered script's settings header (render/shell.ts settingsHeader) in tests: what a
// script is given is asserted on the values it receives, not on its text.
import { scriptSettings } from "../../policies/lib";
import { shellQuote } from "../../render/shell";

/** The single value `name` of the script's settings; throws when the script has no such setting. */
export function setting(script: string, name: string): string {
  const value = scriptSettings(script)[name];
  if (value === undefined) throw new Error(`the script has no setting ${name}`);
  return value;
}

/** The decoded content of the `*_B64` setting `name`. */
export function decoded(script: string, name: string): string {
  return Buffer.from(setting(script, name), "base64").toString("utf8");
}

/** The script with some settings replaced (a test points paths into its own directory). */
export function withSettings(script: string, values: Readonly<Record<string, string>>): string {
  let result = script;
  for (const [name, value] of Object.entries(values)) {
    const line = new RegExp(`^readonly ${name}=.*$`, "m");
    if (!line.test(result)) throw new Error(`the script has no setting ${name}`);
    result = result.replace(line, () => `readonly ${name}=${shellQuote(value)}`);
  }
  return result;
}

/** The list setting `name` (`readonly NAME=('…' '…')`); throws when the script has none. */
export function listSetting(script: string, name: string): string[] {
  const line = new RegExp(`^readonly ${name}=\\(((?:'(?:[^']|'\\\\'')*' ?)*)\\)$`, "m").exec(script);
  if (!line) throw new Error(`the script has no list setting ${name}`);
  return [...(line[1] ?? "").matchAll(/'((?:[^']|'\\'')*)'/g)].map((m) => (m[1] ?? "").replace(/'\\''/g, "'"));
}

/** The files a script installs from its PATHS/MODES/CONTENTS_B64 lists, keyed by path. */
export function installedFiles(script: string): Map<string, { mode: string; content: string }> {
  const [paths, modes, contents] = ["PATHS", "MODES", "CONTENTS_B64"].map((name) => listSetting(script, name));
  return new Map(
    (paths ?? []).map((path, i) => [
      path,
      { mode: modes?.[i] ?? "", content: Buffer.from(contents?.[i] ?? "", "base64").toString("utf8") },
    ]),
  );
}
