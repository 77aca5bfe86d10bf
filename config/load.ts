// Loads and validates the stack configuration from the flat key/value map the Pulumi CLI
// passes to the program (structured values arrive as JSON strings). Pure: the program,
// the offline plan and the tests all call loadConfig with such a map.
import { distance } from "fastest-levenshtein";
import type { z } from "zod";
import { isAtOrBelow } from "./names";
import { crossFieldProblems, STACK_BOUND_KEYS, stackProblems, type Problem } from "./rules";
import {
  keySchemas,
  MAILCOW_RELEASES,
  secretKeys,
  secretRequired,
  type ConfigKey,
  type ParsedConfig,
  type SecretKey,
} from "./schema";

export const NAMESPACE = "mailstack";

export interface ConfigProblem {
  /** Full key path, e.g. `mailstack:lan.gateway4` or `mailstack:domains[0].name`. */
  readonly key: string;
  /** The offending value as JSON (never for secret keys), when there is one. */
  readonly value?: string;
  /** What is wrong and what is expected. */
  readonly message: string;
}

/** One line per problem: `key = value: message`. */
export function formatProblem(problem: ConfigProblem): string {
  return `${problem.key}${problem.value === undefined ? "" : ` = ${problem.value}`}: ${problem.message}`;
}

/** Invalid configuration: one problem per invalid value, each naming its key. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `invalid mailstack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${formatProblem(p)}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

type WithRequired<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: NonNullable<T[P]> };

/** The validated configuration with every derived default filled in. */
type PbsConfig = NonNullable<ParsedConfig["backup"]["pbs"]>;

type MonitoringConfig = ParsedConfig["monitoring"];

export type MailstackConfig = Omit<
  ParsedConfig,
  "hostZone" | "lan" | "mailcow" | "dmarc" | "tlsRpt" | "dns" | "backup" | "monitoring"
> & {
  /** The stack's name: cluster-wide names on Proxmox derive from it, so two stacks never collide. */
  readonly stack: string;
  readonly hostZone: NonNullable<ParsedConfig["hostZone"]>;
  readonly lan: WithRequired<ParsedConfig["lan"], "resolvers">;
  readonly mailcow: WithRequired<ParsedConfig["mailcow"], "apiAllowFrom" | "commit" | "apiConnectAddress">;
  readonly dmarc: WithRequired<ParsedConfig["dmarc"], "rua">;
  readonly tlsRpt: WithRequired<ParsedConfig["tlsRpt"], "rua">;
  readonly dns: WithRequired<ParsedConfig["dns"], "caaIodef">;
  readonly backup: Omit<WithRequired<ParsedConfig["backup"], "notifyEmail">, "pbs"> & {
    readonly pbs?: WithRequired<PbsConfig, "storageId">;
  };
  readonly monitoring: Omit<WithRequired<MonitoringConfig, "notifyEmail" | "pfsenseInterface">, "smtp"> & {
    readonly smtp: WithRequired<MonitoringConfig["smtp"], "smarthost" | "from">;
  };
};

export interface LoadedConfig {
  readonly config: MailstackConfig;
  /** Secret values by key; wrap them in pulumi.secret() at once. */
  readonly secrets: Readonly<Partial<Record<SecretKey, string>>>;
}

export interface RawConfig {
  /** The stack name (`pulumi.getStack()`). */
  readonly stack: string;
  /** The `namespace:key` → string map (as `pulumi.runtime.allConfig()` returns it). */
  readonly values: Readonly<Record<string, string>>;
  /** Whether the CLI marked a key as secret. */
  readonly isSecret: (fullKey: string) => boolean;
}

const configKeys = Object.keys(keySchemas) as ConfigKey[];
/** Key names of other namespaces that hold credentials (apiToken, password, privateKey, …). */
const SECRET_LOOKING = /(token|password|passphrase|secret|secret_?key|api_?key|private_?key|credentials?)$/i;
const secretKeyNames = Object.keys(secretKeys) as SecretKey[];

/**
 * Validates the raw configuration. Throws ConfigError listing every problem; never
 * returns a partially valid configuration.
 */
export function loadConfig(raw: RawConfig): LoadedConfig {
  const problems: ConfigProblem[] = [];
  const input: Record<string, unknown> = {};

  for (const [fullKey, text] of Object.entries(raw.values)) {
    if (!fullKey.startsWith(`${NAMESPACE}:`)) {
      // Another namespace (a provider's, e.g. cloudflare:apiToken): not ours to parse, but a
      // credential in plain text there is in the repository for everyone who can read it.
      if (SECRET_LOOKING.test(fullKey.slice(fullKey.indexOf(":") + 1)) && !raw.isSecret(fullKey))
        problems.push({
          key: fullKey,
          message: `looks like a credential and is stored in plain text; run \`pulumi config rm ${fullKey}\` and \`pulumi config set --secret ${fullKey}\` (or leave it out: mailstack passes its own secrets to the providers)`,
        });
      continue;
    }
    const key = fullKey.slice(NAMESPACE.length + 1);
    if ((secretKeyNames as string[]).includes(key)) continue;
    if (!(configKeys as string[]).includes(key)) {
      problems.push({
        key: fullKey,
        message: `unknown setting${suggestion(key, [...configKeys, ...secretKeyNames], `${NAMESPACE}:`)}`,
      });
      continue;
    }
    if (raw.isSecret(fullKey)) {
      problems.push({
        key: fullKey,
        message: "is stored as a secret but is not one; set it with `pulumi config set` (no --secret)",
      });
      continue;
    }
    const parsed = parseValue(text);
    if (parsed.error) problems.push({ key: fullKey, message: parsed.error });
    else input[key] = parsed.value;
  }

  const parsed: Partial<Record<ConfigKey, unknown>> = {};
  const failed = new Set<ConfigKey>();
  for (const key of configKeys) {
    const schema: z.ZodType = keySchemas[key];
    const value = input[key];
    if (value === undefined && !raw.values[`${NAMESPACE}:${key}`] && !schema.safeParse(undefined).success) {
      problems.push({
        key: `${NAMESPACE}:${key}`,
        message: `is not set; ${expectation(schema)}. Set it in Pulumi.<stack>.yaml`,
      });
      failed.add(key);
      continue;
    }
    if (value === undefined && raw.values[`${NAMESPACE}:${key}`] !== undefined && !(key in input)) {
      failed.add(key); // already reported above (bad JSON, secret flag)
      continue;
    }
    const result = schema.safeParse(value);
    if (result.success) {
      parsed[key] = result.data;
      continue;
    }
    problems.push(...result.error.issues.flatMap((issue) => describeIssue(key, value, issue, schema)));
    // Unknown nested settings alone should not hide the cross-field problems of the rest.
    const retry = result.error.issues.every((issue) => issue.code === "unrecognized_keys")
      ? schema.safeParse(withoutKeys(value, result.error.issues))
      : undefined;
    if (retry?.success) parsed[key] = retry.data;
    else failed.add(key);
  }

  const config = parsed as ParsedConfig;
  problems.push(...crossFieldProblems(config, failed).map((p) => toConfigProblem(p, input)));
  if (STACK_BOUND_KEYS.every((key) => !failed.has(key)))
    problems.push(...stackProblems(config, raw.stack).map((p) => toConfigProblem(p, input)));

  const secrets: Partial<Record<SecretKey, string>> = {};
  for (const key of secretKeyNames) {
    const fullKey = `${NAMESPACE}:${key}`;
    const value = raw.values[fullKey];
    if (value === undefined) {
      if (secretRequired(key, parsed as Partial<ParsedConfig>)) {
        problems.push({
          key: fullKey,
          message: `is not set: ${secretKeys[key]}. Run \`pulumi config set --secret ${fullKey}\``,
        });
      }
    } else if (!raw.isSecret(fullKey)) {
      problems.push({
        key: fullKey,
        message: `is stored in plain text; run \`pulumi config rm ${fullKey}\` and \`pulumi config set --secret ${fullKey}\``,
      });
    } else if (value.trim() === "") {
      problems.push({ key: fullKey, message: "is empty" });
    } else secrets[key] = value;
  }

  if (secrets.proxmoxMetricsToken !== undefined && config.monitoring?.proxmoxMetrics?.type !== "influxdb") {
    problems.push({
      key: `${NAMESPACE}:proxmoxMetricsToken`,
      message:
        "is only used by an InfluxDB metric server (mailstack:monitoring.proxmoxMetrics.type: influxdb); remove it with `pulumi config rm`",
    });
  }
  if (!/^[A-Za-z0-9_.-]{1,60}$/.test(raw.stack)) {
    problems.push({
      key: "stack",
      message: `the stack name ${JSON.stringify(raw.stack)} must be 1–60 letters, digits, '.', '_' or '-'`,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: resolveDefaults(config, raw.stack), secrets };
}

function withoutKeys(value: unknown, issues: readonly z.core.$ZodIssue[]): unknown {
  const copy = structuredClone(value);
  for (const issue of issues) {
    const target = valueAt(copy, issue.path);
    if (issue.code === "unrecognized_keys" && target !== null && typeof target === "object") {
      for (const unknownKey of issue.keys) delete (target as Record<string, unknown>)[unknownKey];
    }
  }
  return copy;
}

function parseValue(text: string): { value?: unknown; error?: string } {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) return { value: text };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return { error: "is not a valid structured value (the CLI passes objects and lists as JSON)" };
  }
}

/** Fills the defaults that depend on other keys. */
/** The prefix of every cluster-wide name on Proxmox (storage, files, jobs, HA rules). */
export function clusterPrefix(stack: string): string {
  return `mailstack-${stack.toLowerCase().replace(/[^a-z0-9-]/g, "-")}`;
}

function resolveDefaults(config: ParsedConfig, stack: string): MailstackConfig {
  const primary = config.domains[0]?.name ?? config.hostname;
  const hostZone =
    config.hostZone ??
    [...config.domains]
      .filter((domain) => isAtOrBelow(config.hostname, domain.name))
      .sort((a, b) => b.name.length - a.name.length)
      .map((domain) => ({ name: domain.name, zoneId: domain.zoneId, nameServers: domain.nameServers }))[0];
  if (!hostZone) throw new Error("unreachable: the hostZone rule guarantees a zone for the host");
  const { pbs, ...backup } = config.backup;
  const commit = config.mailcow.commit ?? MAILCOW_RELEASES[config.mailcow.version];
  if (!commit) throw new Error("unreachable: the mailcow rule guarantees a commit");
  return {
    ...config,
    stack,
    hostZone,
    lan: { ...config.lan, resolvers: config.lan.resolvers ?? [config.lan.gateway4] },
    mailcow: {
      ...config.mailcow,
      commit,
      apiAllowFrom: config.mailcow.apiAllowFrom ?? config.admin.sshCidrs,
      apiConnectAddress: config.mailcow.apiConnectAddress ?? config.lan.ipv4.split("/")[0] ?? "",
    },
    dmarc: { ...config.dmarc, rua: config.dmarc.rua ?? [`mailto:dmarc-reports@${primary}`] },
    tlsRpt: { ...config.tlsRpt, rua: config.tlsRpt.rua ?? [`mailto:tls-reports@${primary}`] },
    dns: { ...config.dns, caaIodef: config.dns.caaIodef ?? `mailto:${config.admin.email}` },
    backup: {
      ...backup,
      notifyEmail: config.backup.notifyEmail ?? config.admin.email,
      ...(pbs ? { pbs: { ...pbs, storageId: pbs.storageId ?? clusterPrefix(stack) } } : {}),
    },
    monitoring: {
      ...config.monitoring,
      notifyEmail: config.monitoring.notifyEmail ?? config.admin.email,
      pfsenseInterface: config.monitoring.pfsenseInterface ?? config.pfsense.lanInterface,
      smtp: {
        ...config.monitoring.smtp,
        smarthost: config.monitoring.smtp.smarthost ?? `${config.hostname}:25`,
        from: config.monitoring.smtp.from ?? `alertmanager@${primary}`,
      },
    },
  };
}

function formatPath(path: readonly PropertyKey[]): string {
  let text = NAMESPACE + ":";
  path.forEach((part, index) => {
    if (typeof part === "number") text += `[${part}]`;
    else text += (index === 0 ? "" : ".") + String(part);
  });
  return text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const part of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

function showValue(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function problemAt(path: readonly PropertyKey[], root: unknown, message: string): ConfigProblem {
  const value = showValue(valueAt(root, path));
  return { key: formatPath(path), message, ...(value === undefined ? {} : { value }) };
}

function toConfigProblem(problem: Problem, input: Record<string, unknown>): ConfigProblem {
  return problemAt(problem.path, input, problem.message);
}

function describeIssue(key: ConfigKey, value: unknown, issue: z.core.$ZodIssue, schema: z.ZodType): ConfigProblem[] {
  const path = [key, ...issue.path];
  if (issue.code === "unrecognized_keys") {
    const known = shapeKeysAt(schema, issue.path);
    return issue.keys.map((unknownKey) => ({
      key: formatPath([...path, unknownKey]),
      message: `unknown setting${suggestion(unknownKey, known, "")}${known.length > 0 ? `; valid: ${known.join(", ")}` : ""}`,
    }));
  }
  const missing = valueAt(value, issue.path) === undefined;
  return [problemAt(path, { [key]: value }, missing ? `is missing; ${issue.message}` : issue.message)];
}

/** Human description of what a schema expects, from its first error on undefined. */
function expectation(schema: z.ZodType): string {
  const result = schema.safeParse(undefined);
  const message = result.success ? "" : (result.error.issues[0]?.message ?? "");
  return message.startsWith("expected") ? message : `expected ${message.replace(/^Invalid input: expected /, "")}`;
}

interface ZodDefLike {
  type?: string;
  keyType?: ZodLike;
  entries?: Record<string, string>;
  innerType?: ZodLike;
  in?: ZodLike;
  element?: ZodLike;
  shape?: Record<string, ZodLike>;
  options?: ZodLike[];
}
interface ZodLike {
  _zod: { def: ZodDefLike };
}

/** The keys an object schema accepts at `path` (through defaults, optionals and arrays). */
function shapeKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: ZodLike | undefined = schema;
  let remaining = [...path];
  for (let guard = 0; current && guard < 64; guard++) {
    const def: ZodDefLike = current._zod.def;
    if (def.innerType) current = def.innerType;
    else if (def.in) current = def.in;
    else if (def.shape && remaining.length > 0) current = def.shape[String(remaining.shift())];
    else if (def.element && remaining.length > 0) {
      remaining = remaining.slice(1);
      current = def.element;
    } else if (def.shape) return Object.keys(def.shape);
    else if (def.keyType) return Object.keys(def.keyType._zod.def.entries ?? {});
    else return [];
  }
  return [];
}

/** " (did you mean …?)" for a close match by edit distance. */
function suggestion(word: string, candidates: readonly string[], prefix: string): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const edits = distance(word.toLowerCase(), candidate.toLowerCase());
    if (edits < bestDistance) {
      best = candidate;
      bestDistance = edits;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3))
    ? ` (did you mean ${prefix}${best}?)`
    : "";
}
