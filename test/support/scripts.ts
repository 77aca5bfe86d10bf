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
