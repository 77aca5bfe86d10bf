import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, NAMESPACE, type RawConfig } from "../config/load";
import { keySchemas } from "../config/schema";
import { allSecrets, baseConfig, rawConfig, SECRET_VALUE } from "./fixtures";

/** Loads and classifies the result; anything but success or a ConfigError fails the property. */
function outcome(raw: RawConfig): "ok" | ConfigError {
  try {
    loadConfig(raw);
    return "ok";
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

function wellFormed(error: ConfigError): void {
  expect(error.problems.length).toBeGreaterThan(0);
  for (const problem of error.problems) {
    expect(problem.key.startsWith(`${NAMESPACE}:`)).toBe(true);
    expect(problem.message.length).toBeGreaterThan(0);
  }
  expect(error.message).not.toContain(SECRET_VALUE);
}

/** Every path into a JSON value, e.g. ["domains", 0, "mailboxes"]. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([key, child]) => pathsOf(child, [...prefix, key]))];
}

function replaceAt(root: Record<string, unknown>, path: (string | number)[], value: unknown): void {
  let target = root as Record<string | number, unknown>;
  for (const part of path.slice(0, -1)) target = target[part] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (last !== undefined) target[last] = value;
}

const knownKeys = Object.keys(keySchemas);
const paths = pathsOf(baseConfig()).filter((path) => path.length > 0);

describe("configuration validation never escapes as anything but a ConfigError", () => {
  it("holds for arbitrary key/value maps", () => {
    const key = fc.oneof(fc.constantFrom(...knownKeys), fc.string({ maxLength: 12 }));
    const value = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.constantFrom("{", "[", "null", "{}"),
    );
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 8 }), (entries) => {
        const raw = rawConfig({}, allSecrets());
        const values = { ...raw.values };
        for (const [k, v] of Object.entries(entries)) values[`${NAMESPACE}:${k}`] = v;
        const result = outcome({ stack: "prod", values, isSecret: raw.isSecret });
        if (result !== "ok") wellFormed(result);
      }),
      { numRuns: 300 },
    );
  });

  it("holds when any part of a valid configuration is replaced by an arbitrary value", () => {
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 3 }), (path, value) => {
        const config = baseConfig();
        replaceAt(config, path, value);
        const result = outcome(rawConfig(config));
        if (result !== "ok") {
          wellFormed(result);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("holds for arbitrary text in every scalar of a valid configuration", () => {
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.string({ unit: "binary", maxLength: 40 }), (path, text) => {
        const config = baseConfig();
        replaceAt(config, path, text);
        const result = outcome(rawConfig(config));
        if (result !== "ok") wellFormed(result);
      }),
      { numRuns: 500 },
    );
  });
});
