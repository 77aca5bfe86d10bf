// Reads Pulumi.yaml and Pulumi.<stack>.yaml into the flat config map the Pulumi CLI hands
// to a program: `namespace:key` → string, where keys without a namespace get the project
// name, scalars are passed as written and objects/lists as JSON. Secure (encrypted) values
// cannot be decrypted offline; they are replaced by a placeholder and marked secret.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";

export const SECRET_PLACEHOLDER = "[secret]";

export interface StackConfig {
  readonly project: string;
  readonly values: Readonly<Record<string, string>>;
  readonly secretKeys: readonly string[];
  /** Keys whose encrypted values were replaced by a placeholder. */
  readonly encrypted: readonly string[];
  readonly warnings: readonly string[];
}

/** A problem with the project or stack file itself (missing, unreadable, not YAML). */
export class StackFileError extends Error {
  override name = "StackFileError";
}

/** Deeper than any stack file needs; also where a self-referencing anchor is caught. */
const MAX_DEPTH = 64;

function readYaml(path: string, schema: "core" | "failsafe"): unknown {
  const text = readFileSync(path, "utf8");
  const doc = parseDocument(text, { schema });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    // The parser recurses per nesting level and reports its own stack overflow as a parse error.
    const message = /Maximum call stack size exceeded/.test(first?.message ?? "")
      ? `nested too deeply (more than ${MAX_DEPTH} levels is never a stack file)`
      : (first?.message ?? "parse error");
    throw new StackFileError(`${path} is not valid YAML: ${message}`);
  }
  let value: unknown;
  try {
    // yaml 2.9.1 throws ReferenceError for an alias without anchor and for alias expansion beyond
    // maxAliasCount (node_modules/yaml/dist/nodes/Alias.js:61-79); both are the file's fault.
    value = doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (error) {
    if (error instanceof ReferenceError || error instanceof RangeError)
      throw new StackFileError(`${path} cannot be read: ${error.message}; write the values out instead of aliases`);
    throw error;
  }
  checkDepth(path, value, 0);
  return value;
}

/** Refuses values nested deeper than MAX_DEPTH, and cycles (an anchor that contains its own alias). */
function checkDepth(path: string, value: unknown, depth: number): void {
  if (value === null || typeof value !== "object") return;
  if (depth >= MAX_DEPTH)
    throw new StackFileError(
      `${path} nests values more than ${MAX_DEPTH} levels deep (or an anchor refers to itself); flatten it`,
    );
  for (const inner of Object.values(value)) checkDepth(path, inner, depth + 1);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isSecure(value: unknown): boolean {
  return isRecord(value) && Object.keys(value).length === 1 && typeof value.secure === "string";
}

function containsSecure(value: unknown): boolean {
  if (isSecure(value)) return true;
  if (Array.isArray(value)) return value.some(containsSecure);
  return isRecord(value) && Object.values(value).some(containsSecure);
}

function replaceSecure(value: unknown): unknown {
  if (isSecure(value)) return SECRET_PLACEHOLDER;
  if (Array.isArray(value)) return value.map(replaceSecure);
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceSecure(v)]));
  return value;
}

export function readStackConfig(dir: string, stack: string): StackConfig {
  const projectPath = join(dir, "Pulumi.yaml");
  const stackPath = join(dir, `Pulumi.${stack}.yaml`);
  if (!existsSync(projectPath)) throw new StackFileError(`no Pulumi.yaml in ${dir}`);
  if (!existsSync(stackPath)) throw new StackFileError(`no stack file ${stackPath}`);

  const project = readYaml(projectPath, "core");
  if (!isRecord(project) || typeof project.name !== "string") {
    throw new StackFileError(`${projectPath} has no project name`);
  }
  const projectName = project.name;
  const qualify = (key: string) => (key.includes(":") ? key : `${projectName}:${key}`);

  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  const encrypted: string[] = [];
  const warnings: string[] = [];

  const set = (key: string, typed: unknown, raw: unknown) => {
    const fullKey = qualify(key);
    if (containsSecure(typed)) {
      secretKeys.add(fullKey);
      encrypted.push(fullKey);
    }
    const value = replaceSecure(typed);
    if (isRecord(value) || Array.isArray(value)) values[fullKey] = JSON.stringify(value);
    else if (typeof raw === "string") values[fullKey] = raw;
    else values[fullKey] = String(value);
  };

  // Project-level defaults (`config:` in Pulumi.yaml, short form or {default|value}).
  if (isRecord(project.config)) {
    for (const [key, entry] of Object.entries(project.config)) {
      if (isRecord(entry) && ("default" in entry || "value" in entry)) {
        const typed = "value" in entry ? entry.value : entry.default;
        set(key, typed, typeof typed === "string" ? typed : undefined);
      } else if (!isRecord(entry)) {
        set(key, entry, typeof entry === "string" ? entry : undefined);
      }
    }
  }

  const typedStack = readYaml(stackPath, "core");
  const rawStack = readYaml(stackPath, "failsafe");
  if (typedStack !== null && !isRecord(typedStack)) throw new StackFileError(`${stackPath} must be a YAML mapping`);
  const typedConfig = isRecord(typedStack) ? typedStack.config : undefined;
  const rawConfig = isRecord(rawStack) ? rawStack.config : undefined;
  if (typedConfig !== undefined && typedConfig !== null && !isRecord(typedConfig)) {
    throw new StackFileError(`${stackPath}: "config" must be a mapping of keys to values`);
  }
  for (const [key, typed] of Object.entries(typedConfig ?? {})) {
    set(key, typed, isRecord(rawConfig) ? rawConfig[key] : undefined);
  }
  if (isRecord(typedStack) && typedStack.environment !== undefined) {
    warnings.push(`${stackPath} imports ESC environments; the offline plan cannot read them`);
  }
  return { project: projectName, values, secretKeys: [...secretKeys], encrypted, warnings };
}
