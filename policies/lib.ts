// Helpers shared by the rules: resource types, reading values that may be unknown during a
// preview, and the DNS and shell details several rules look at.
import { parse as parseYaml } from "yaml";
import type { PolicyResource, ReportViolation, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import type { RuleInfo } from "../common/policy-catalog";

import { TYPES } from "../common/resource-types";

export { TYPES };

type Described = Pick<RuleInfo, "name" | "severity" | "enforcementLevel">;

/**
 * A resource rule with the registry's name, severity and default level. A value the preview
 * cannot know yet (the SDK's proxy throws when it is read) skips the resource instead of
 * failing or reporting: the rule runs on it again once the value is known (`pulumi up`).
 */
export function resourceRule(
  info: Described,
  rest: Omit<ResourceValidationPolicy, "name" | "severity" | "enforcementLevel">,
): ResourceValidationPolicy {
  const validations = rest.validateResource ? [rest.validateResource].flat() : [];
  return {
    name: info.name,
    severity: info.severity,
    enforcementLevel: info.enforcementLevel,
    ...rest,
    validateResource: (args, report) => {
      try {
        return runInOrder(validations, args, report)?.catch(skipUnknown);
      } catch (error) {
        return skipUnknown(error);
      }
    },
  };
}

const skipUnknown = (error: unknown): void => {
  if (!isUnknownError(error)) throw error;
};

/** True for a promise (or anything awaitable). */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === "function";
}

/**
 * Runs validations one after the other: synchronously while they return nothing (every rule of
 * this pack), and from the first that returns a promise on, each after the previous one settled.
 * The policy server accepts either (it awaits `Promise.resolve(validation(...))`, @pulumi/policy
 * 1.21.0 server.js); a promise per rule and resource was most of the plan's policy time (issue 19).
 */
export function runInOrder<A>(
  validations: readonly ((args: A, report: ReportViolation) => Promise<void> | void)[],
  args: A,
  report: ReportViolation,
  from = 0,
): Promise<void> | undefined {
  for (let index = from; index < validations.length; index++) {
    const result = validations[index]?.(args, report);
    if (isPromiseLike(result))
      return Promise.resolve(result).then(() => runInOrder(validations, args, report, index + 1));
  }
  return undefined;
}

export function stackRule(
  info: Described,
  rest: Omit<StackValidationPolicy, "name" | "severity" | "enforcementLevel">,
): StackValidationPolicy {
  return { name: info.name, severity: info.severity, enforcementLevel: info.enforcementLevel, ...rest };
}

/** Marks a value a preview cannot know yet. */
export const UNKNOWN: unique symbol = Symbol("unknown during preview");
export type Maybe<T> = T | typeof UNKNOWN;

/**
 * Reads a value; during a preview the policy SDK throws when a rule touches an unknown value.
 * Rules skip what they cannot know instead of reporting it.
 */
export function readUnlessUnknown<T>(read: () => T): Maybe<T> {
  try {
    return read();
  } catch (error) {
    if (isUnknownError(error)) return UNKNOWN;
    throw error;
  }
}

/** The policy SDK's error for reading a value a preview cannot know. */
function isUnknownError(error: unknown): boolean {
  return error instanceof Error && error.constructor.name === "UnknownValueError";
}

export function isKnown<T>(value: Maybe<T>): value is T {
  return value !== UNKNOWN;
}

/** A value as a plain string, or undefined (unknown or absent). */
export function knownString(read: () => unknown): string | undefined {
  const value = readUnlessUnknown(read);
  return typeof value === "string" ? value : undefined;
}

/** A resource's props typed as unknown values (the SDK types them any): rules check before use. */
export function unknownProps(resource: { readonly props: Record<string, unknown> }): Record<string, unknown> {
  return resource.props;
}

/**
 * Whether a component was registered with its inputs. Under PULUMI_NODEJS_SKIP_COMPONENT_INPUTS the
 * SDK registers components without them (@pulumi/pulumi 3.248.0 resource.js): a rule that can only
 * judge a component's inputs has nothing to judge then, and must not report their absence.
 */
export function hasInputs(resource: { readonly props: Record<string, unknown> }): boolean {
  return Object.keys(resource.props).length > 0;
}

/** A value for a message: strings as they are, anything else as JSON. */
export function text(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === UNKNOWN) return "(unknown during preview)";
  return JSON.stringify(value) ?? "undefined";
}

/**
 * A plain copy of a value read from props: nested values a preview cannot know become UNKNOWN
 * instead of throwing later, so a stack rule can skip just those and still check the rest.
 */
export function plainCopy(read: () => unknown): unknown {
  const value = readUnlessUnknown(read);
  if (!isKnown(value) || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    const items = value as unknown[];
    return Array.from({ length: items.length }, (_, index) => plainCopy(() => items[index]));
  }
  const object = value as Record<string, unknown>;
  return Object.fromEntries(Object.keys(object).map((key) => [key, plainCopy(() => object[key])]));
}

export function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

/**
 * A function of an object computed once per object: several rules read the same derived values
 * (the scripts a command runs, decoded; a stack's DNS records; its pfSense ingress), and the
 * runners hand every rule the same props and resource list (policies/args.ts), so each is derived
 * once per resource or stack instead of once per rule. Rules never write to what they are given;
 * the results are shared, so they are read-only too.
 */
function once<K extends object, V>(derive: (key: K) => V): (key: K) => V {
  const cache = new WeakMap<K, V>();
  return (key) => {
    if (cache.has(key)) return cache.get(key) as V;
    const value = derive(key);
    cache.set(key, value);
    return value;
  };
}

// ---- pfSense objects --------------------------------------------------------------------------

/** Ports a pfSense field names: every port, or a set of them. */
export type PortSet = "any" | Set<number>;

/** The ports of a pfSense port field (a number, a range `a:b`/`a-b`, an alias, empty for any); undefined: unparsable. */
export function parsePorts(entry: string, aliases: ReadonlyMap<string, string[]>, depth = 0): PortSet | undefined {
  const value = entry.trim();
  if (value === "" || value.toLowerCase() === "any") return "any";
  const alias = aliases.get(value);
  if (alias) {
    if (depth > 4) return undefined;
    const ports = new Set<number>();
    for (const item of alias) {
      const inner = parsePorts(item, aliases, depth + 1);
      if (inner === undefined) return undefined;
      if (inner === "any") return "any";
      for (const port of inner) ports.add(port);
    }
    return ports;
  }
  const range = /^(\d+)(?:[:-](\d+))?$/.exec(value);
  if (!range) return undefined;
  const from = Number(range[1]);
  const to = Number(range[2] ?? range[1]);
  const ports = new Set<number>();
  for (let port = from; port <= Math.min(to, 65535); port++) ports.add(port);
  return ports;
}

/** The watched services a port set reaches, as `what (port)`. */
export function reachedServices(ports: PortSet, watched: ReadonlyMap<number, string>): string[] {
  return [...watched].filter(([port]) => ports === "any" || ports.has(port)).map(([port, what]) => `${what} (${port})`);
}

/** A pfSense object's spec, its unknown fields as UNKNOWN (they parse as no ports, and are skipped). */
export function pfsenseSpec(resource: PolicyResource): Record<string, unknown> | undefined {
  const value = plainCopy(() => unknownProps(resource).spec);
  return isKnown(value) ? asRecord(value) : undefined;
}

/** What the stack asks pfSense to let in: the aliases, the enabled port forwards and pass rules. */
export interface PfsenseIngress {
  /** Alias name → its entries. */
  aliases: ReadonlyMap<string, string[]>;
  /** Enabled port forwards, each with the ports it reaches: the public port and, when set, `local_port`. */
  forwards: { resource: PolicyResource; ports: PortSet[] }[];
  /** Enabled pass rules whose destination port parses; `onWan` when one of its interfaces is a WAN. */
  passRules: { resource: PolicyResource; spec: Record<string, unknown>; ports: PortSet; onWan: boolean }[];
}

/**
 * Reads the pfSense aliases, port forwards and pass rules of a stack. The WAN interfaces are `wan`
 * and every interface a port forward sits on. A forward without a destination port forwards every
 * port: pfrest accepts null for it ("allow any destination port", pfSense-pkg-RESTAPI@v2.10.0
 * Models/PortForward.inc), and pfSense then writes an `rdr` line with no port
 * (pfsense/pfsense@9363ac5b86 src/etc/inc/filter.inc, filter_nat_rules_generate). A field that
 * does not parse (unknown, or not a port) is skipped.
 */
function pfsenseIngressUncached(resources: readonly PolicyResource[]): PfsenseIngress {
  const aliases = new Map<string, string[]>();
  for (const alias of resources.filter((r) => r.type === `${TYPES.pfsensePrefix}FirewallAlias`)) {
    const value = pfsenseSpec(alias);
    if (value && typeof value.name === "string") aliases.set(value.name, asArray(value.address).map(String));
  }
  const forwardResources = resources.filter((r) => r.type === TYPES.pfsenseForward);
  const wan = new Set(["wan", ...forwardResources.map((f) => text(pfsenseSpec(f)?.interface ?? "wan"))]);
  const forwards: PfsenseIngress["forwards"] = [];
  for (const resource of forwardResources) {
    const value = pfsenseSpec(resource);
    if (!value || value.disabled === true) continue;
    const ports: PortSet[] = [];
    for (const field of ["destination_port", "local_port"]) {
      if (field === "local_port" && (value[field] === undefined || value[field] === "")) continue;
      const parsed = parsePorts(text(value[field] ?? ""), aliases);
      if (parsed) ports.push(parsed);
    }
    forwards.push({ resource, ports });
  }
  const passRules: PfsenseIngress["passRules"] = [];
  for (const resource of resources.filter((r) => r.type === TYPES.pfsenseRule)) {
    const value = pfsenseSpec(resource);
    if (!value || value.type !== "pass" || value.disabled === true) continue;
    const ports = parsePorts(text(value.destination_port ?? ""), aliases);
    if (!ports) continue;
    const onWan = [value.interface]
      .flat()
      .map(text)
      .some((name) => wan.has(name));
    passRules.push({ resource, spec: value, ports, onWan });
  }
  return { aliases, forwards, passRules };
}
/** The pfSense aliases, port forwards and pass rules of a stack (pfsenseIngressUncached), once per resource list. */
export const pfsenseIngress: (resources: readonly PolicyResource[]) => PfsenseIngress = once(pfsenseIngressUncached);

// ---- DNS ------------------------------------------------------------------------------------

export function dnsName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** The text of a TXT record: Cloudflare's quoted strings joined (RFC 7208 §3.3). */
export function txtText(content: string): string {
  const quoted = [...content.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] ?? "").replace(/\\(.)/g, "$1"));
  return quoted.length > 0 ? quoted.join("") : content;
}

export interface DnsRecordView {
  readonly urn: string;
  readonly zoneId: string;
  readonly name: string;
  readonly type: string;
  readonly content?: string;
  /** The content exists but a preview cannot know it yet. */
  readonly contentUnknown?: boolean;
}

/** The DNS records of a stack (known ones only). */
function dnsRecordsUncached(resources: readonly PolicyResource[]): DnsRecordView[] {
  return resources
    .filter((r) => r.type === TYPES.dnsRecord)
    .flatMap((r) => {
      const zoneId = knownString(() => r.props.zoneId);
      const name = knownString(() => r.props.name);
      const type = knownString(() => r.props.type);
      if (!zoneId || !name || !type) return [];
      const content = readUnlessUnknown(() => unknownProps(r).content);
      return [
        {
          urn: r.urn,
          zoneId,
          name: dnsName(name),
          type: type.toUpperCase(),
          ...(typeof content === "string" ? { content } : {}),
          ...(isKnown(content) ? {} : { contentUnknown: true }),
        },
      ];
    });
}
/** The DNS records of a stack (known ones only), once per resource list. */
export const dnsRecords: (resources: readonly PolicyResource[]) => readonly DnsRecordView[] = once(dnsRecordsUncached);

// ---- shell scripts the stack runs -------------------------------------------------------------

/** The script a remote command runs: its stdin (for `bash -s`) and its create command. */
function commandScriptsUncached(props: Record<string, unknown>): string[] {
  return [knownString(() => props.stdin), knownString(() => props.create), knownString(() => props.update)]
    .filter((s): s is string => s !== undefined)
    .flatMap((script) => withEncodedPayloads(script));
}
/** The scripts a remote command runs (commandScriptsUncached), once per props. */
export const commandScripts: (props: Record<string, unknown>) => readonly string[] = once(commandScriptsUncached);

/** A base64 value (line breaks allowed; undefined or empty: "") as UTF-8 text. */
export function fromBase64(encoded: string | undefined): string {
  return Buffer.from((encoded ?? "").replace(/\s+/g, ""), "base64").toString("utf8");
}

/**
 * A script and what it carries base64-encoded, decoded (recursively): here-documents fed to
 * `base64 -d` (render/host-scripts.ts installAndRun and installFilesScript) and `*_B64` settings
 * (render/shell.ts headers, such as a snippet's content), and a cloud-config's write_files. Rules
 * judge what is installed, not only the wrapper that installs it.
 */
export function withEncodedPayloads(script: string, depth = 0): string[] {
  const found = [script];
  if (depth >= 4) return found;
  // A cloud-config (a snippet, or a snippet's content a script writes): the files it installs.
  for (const file of cloudConfigFiles(script)) found.push(...withEncodedPayloads(file, depth + 1));
  const decode = (encoded: string) => {
    found.push(...withEncodedPayloads(fromBase64(encoded), depth + 1));
  };
  for (const match of script.matchAll(/base64 -d[^\n]*<<'([A-Za-z_]+)'[^\n]*\n([A-Za-z0-9+/=\n]*?)\n\1(?=\n|$)/g))
    decode(match[2] ?? "");
  // Single values and lists (`readonly NAME_B64=('…' '…')`, render/shell.ts settingsHeader).
  for (const match of script.matchAll(/^readonly [A-Z0-9_]*_B64=\(?((?:'[A-Za-z0-9+/=]*' ?)+)\)?$/gm))
    for (const value of (match[1] ?? "").matchAll(/'([A-Za-z0-9+/=]*)'/g)) decode(value[1] ?? "");
  return found;
}

/**
 * The single-value settings of a rendered script (`readonly NAME='value'` lines of the header
 * render/shell.ts settingsHeader writes), unquoted. Lists are left out.
 */
export function scriptSettings(script: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const match of script.matchAll(/^readonly ([A-Z][A-Z0-9_]*)='((?:[^']|'\\'')*)'$/gm))
    settings[match[1] ?? ""] = (match[2] ?? "").replace(/'\\''/g, "'");
  return settings;
}

/** True when `script` is the render/scripts program `name` (its first comment line names it). */
export function isScript(script: string, name: string): boolean {
  return script.startsWith(`#!/bin/bash\n# mailstack ${name}:`);
}

/** What a host runs: a remote command's scripts, or a cloud-init snippet's content. */
export function hostConfigTexts(resource: {
  readonly type: string;
  readonly props: Record<string, unknown>;
}): readonly string[] {
  if (resource.type === TYPES.command) return commandScripts(resource.props);
  if (resource.type !== TYPES.snippet) return [];
  return snippetTexts(resource.props);
}

/** A cloud-init snippet's content and what it installs, once per props. */
const snippetTexts = once((props: Record<string, unknown>): readonly string[] => {
  const data = readUnlessUnknown(() => asRecord(props.sourceRaw).data);
  return isKnown(data) && typeof data === "string" ? withEncodedPayloads(data) : [];
});

/** The contents of a cloud-config's write_files (the host scripts cloud-init installs at first boot). */
export function cloudConfigFiles(userData: string): string[] {
  if (!userData.startsWith("#cloud-config")) return [];
  let parsed: unknown;
  try {
    parsed = parseYaml(userData);
  } catch {
    return [];
  }
  return asArray(asRecord(parsed).write_files).flatMap((entry) => {
    const file = asRecord(entry);
    if (typeof file.content !== "string") return [];
    const encoding = typeof file.encoding === "string" ? file.encoding : "";
    return [/^(b64|base64)$/.test(encoding) ? Buffer.from(file.content, "base64").toString("utf8") : file.content];
  });
}

/** True for the whole address space or a large part of it (IPv4 shorter than /8, IPv6 than /32). */
export function isWorldCidr(cidr: string): boolean {
  const value = cidr.trim().toLowerCase();
  if (value === "any" || value === "0.0.0.0" || value === "::") return true;
  const match = /^(.+)\/(\d+)$/.exec(value);
  if (!match) return false;
  const bits = Number(match[2]);
  return match[1]?.includes(":") ? bits < 32 : bits < 8;
}

// ---- what the host scripts install ---------------------------------------------------------

/** The scripts of every remote command and snippet of a stack (decoded payloads included). */
export function stackHostTexts(resources: readonly PolicyResource[]): { urn: string; texts: readonly string[] }[] {
  return resources
    .filter((r) => r.type === TYPES.command || r.type === TYPES.snippet)
    .map((r) => ({ urn: r.urn, texts: hostConfigTexts(r) }));
}

/** True when a preview cannot know a remote command's script yet (its rules run again at `up`). */
export function scriptUnknown(resource: PolicyResource): boolean {
  if (resource.type !== TYPES.command) return false;
  return [() => unknownProps(resource).stdin, () => unknownProps(resource).create].some(
    (read) => !isKnown(readUnlessUnknown(read)),
  );
}

/** The values of `NAME=value` lines (env files such as mailcow.conf) in a text. */
export function envValues(text: string, name: string): string[] {
  return [...text.matchAll(new RegExp(`^${name}=(.*)$`, "gm"))].map((m) => (m[1] ?? "").trim());
}

export interface UfwAllow {
  /** The command as written. */
  readonly command: string;
  /** The source ("from"), undefined for anywhere. */
  readonly from?: string;
  /** The destination port ("port N", or the service after allow), undefined for every port. */
  readonly port?: string;
}

/** The `ufw allow|limit …` commands of a script. */
export function ufwAllows(script: string): UfwAllow[] {
  return script
    .split("\n")
    .map((line) => line.trim())
    .filter((command) => /^ufw\s+(?:insert\s+\d+\s+)?(allow|limit)\b/.test(command))
    .map((command) => {
      const from = /\bfrom\s+(\S+)/.exec(command)?.[1];
      const port =
        /\bport\s+(\S+)/.exec(command)?.[1] ??
        /^ufw\s+(?:insert\s+\d+\s+)?(?:allow|limit)\s+(?:in\s+)?(?:log(?:-all)?\s+)?([0-9]+(?::[0-9]+)?(?:\/(?:tcp|udp))?|ssh|openssh)\b/i
          .exec(command)?.[1]
          ?.replace(/\/(tcp|udp)$/, "");
      return { command, ...(from !== undefined ? { from } : {}), ...(port !== undefined ? { port } : {}) };
    });
}

/** True when a ufw port field (N, N:M, a service name) includes `port`. */
export function ufwPortIncludes(field: string | undefined, port: number, service?: string): boolean {
  if (field === undefined) return true;
  const value = field.toLowerCase();
  if (service !== undefined && value === service) return true;
  return value.split(",").some((part) => {
    const range = /^(\d+)(?::(\d+))?$/.exec(part);
    return range !== null && Number(range[1]) <= port && port <= Number(range[2] ?? range[1]);
  });
}

/** True for a scheme-insensitive https:// URL (RFC 3986 §3.1: schemes compare case-insensitively). */
export function isHttpsUrl(url: string): boolean {
  return /^https:\/\//i.test(url);
}
