// Command-line options of `npm run verify` (pure: parsed and checked here, used by cli.ts).
// Every mistake is a UsageError with a message that says what to write instead (exit code 2).
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import { CATEGORIES, type Category } from "./result";

export const USAGE = `usage: npm run verify -- (--stack <name> | --outputs <file>) [options]

Checks a deployed mail stack from outside, the way internet.nl does.

  --stack NAME                read the outputs with \`pulumi stack output --json --stack NAME\`
  --outputs FILE              read the outputs from FILE (\`pulumi stack output --json\`, or the plan's outputs.json)
  --resolver HOST[:PORT]      a validating DNS resolver (default: the system's first name server)
  --trust-anchor FILE         DNSSEC trust anchors (DS or DNSKEY lines; default /usr/share/dns/root.key)
  --connect NAME[:PORT]=ADDR[:PORT]
                              connect to ADDR instead of NAME (an address or host name); repeatable
  --ca FILE                   trust this CA (PEM) in addition to the system's
  --only CATEGORY…            run only these categories (${CATEGORIES.join(", ")})
  --json                      print the report as JSON
  --prometheus FILE           also write the results for node_exporter's textfile collector
  -h, --help                  show this help

Exit codes: 0 nothing failed, 1 a check failed, 2 bad usage or unreadable outputs.`;

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface HostPort {
  /** A host name (lower case, no trailing dot) or an IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port?: number;
}

export interface ConnectRule {
  readonly from: HostPort;
  readonly to: HostPort;
}

export interface VerifyOptions {
  readonly stack?: string;
  readonly outputs?: string;
  readonly resolver?: { readonly host: string; readonly port: number };
  readonly trustAnchor?: string;
  readonly connect: readonly ConnectRule[];
  readonly ca?: string;
  readonly only?: readonly Category[];
  readonly json: boolean;
  readonly prometheus?: string;
  readonly help: boolean;
}

function port(text: string, what: string): number {
  const value = Number(text);
  if (!/^\d{1,5}$/.test(text) || value < 1 || value > 65535) {
    throw new UsageError(`${what}: "${text}" is not a port (1-65535)`);
  }
  return value;
}

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)*$/;

/** HOST, HOST:PORT, an IPv6 address, or [IPv6]:PORT. */
export function parseHostPort(text: string, what: string): HostPort {
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  let host: string;
  let portText: string | undefined;
  if (bracketed) {
    host = bracketed[1] ?? "";
    portText = bracketed[2];
    if (isIP(host) !== 6) throw new UsageError(`${what}: "${host}" in brackets is not an IPv6 address`);
  } else if (isIP(text) === 6) {
    host = text;
  } else {
    const colon = text.lastIndexOf(":");
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (host.includes(":")) {
      throw new UsageError(`${what}: write an IPv6 address with a port as [ADDRESS]:PORT, e.g. [2001:db8::1]:25`);
    }
  }
  host = host.toLowerCase().replace(/\.$/, "");
  if (isIP(host) === 0 && !HOST_NAME.test(host)) {
    throw new UsageError(`${what}: "${host}" is neither an IP address nor a host name`);
  }
  return { host, ...(portText === undefined ? {} : { port: port(portText, what) }) };
}

/** NAME[:PORT]=ADDR[:PORT]. A port on the right needs one on the left (which port would it replace?). */
export function parseConnect(text: string): ConnectRule {
  const what = `--connect ${text}`;
  const equals = text.indexOf("=");
  if (equals < 0) throw new UsageError(`${what}: expected NAME[:PORT]=ADDR[:PORT], e.g. mail.example.org:25=10.3.0.4`);
  const from = parseHostPort(text.slice(0, equals), what);
  const to = parseHostPort(text.slice(equals + 1), what);
  if (to.port !== undefined && from.port === undefined) {
    throw new UsageError(`${what}: a port on the right needs the port it replaces on the left (NAME:PORT=ADDR:PORT)`);
  }
  return { from, to };
}

function categories(values: readonly string[]): Category[] {
  const list = values.flatMap((value) => value.split(/[,\s]+/)).filter((value) => value.length > 0);
  for (const value of list) {
    if (!(CATEGORIES as readonly string[]).includes(value)) {
      throw new UsageError(`--only: unknown category "${value}"; valid: ${CATEGORIES.join(", ")}`);
    }
  }
  if (list.length === 0) throw new UsageError(`--only needs at least one category: ${CATEGORIES.join(", ")}`);
  return [...new Set(list)] as Category[];
}

export function parseOptions(argv: readonly string[]): VerifyOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        stack: { type: "string" },
        outputs: { type: "string" },
        resolver: { type: "string" },
        "trust-anchor": { type: "string" },
        connect: { type: "string", multiple: true },
        ca: { type: "string" },
        only: { type: "string", multiple: true },
        json: { type: "boolean" },
        prometheus: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
      tokens: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, tokens } = parsed;
  if (values.help) return { connect: [], json: false, help: true };

  // `--only tls dane`: positionals are categories when they directly follow --only.
  const only: string[] = [...(values.only ?? [])];
  let afterOnly = false;
  for (const token of tokens) {
    if (token.kind === "option") afterOnly = token.name === "only";
    else if (token.kind === "positional") {
      if (!afterOnly) throw new UsageError(`unexpected argument "${token.value}"`);
      only.push(token.value);
    } else afterOnly = false;
  }

  if (values.stack === undefined && values.outputs === undefined) {
    throw new UsageError("say which stack to check: --stack <name> or --outputs <file>");
  }
  if (values.stack !== undefined && values.outputs !== undefined) {
    throw new UsageError("--stack and --outputs both name the outputs; give one of them");
  }
  if (values.stack !== undefined && !/^[A-Za-z0-9_./-]+$/.test(values.stack)) {
    throw new UsageError(`--stack: "${values.stack}" is not a stack name`);
  }
  const resolver = values.resolver === undefined ? undefined : parseHostPort(values.resolver, "--resolver");
  return {
    ...(values.stack !== undefined ? { stack: values.stack } : {}),
    ...(values.outputs !== undefined ? { outputs: values.outputs } : {}),
    ...(resolver ? { resolver: { host: resolver.host, port: resolver.port ?? 53 } } : {}),
    ...(values["trust-anchor"] !== undefined ? { trustAnchor: values["trust-anchor"] } : {}),
    connect: (values.connect ?? []).map(parseConnect),
    ...(values.ca !== undefined ? { ca: values.ca } : {}),
    ...(only.length > 0 || values.only !== undefined ? { only: categories(only) } : {}),
    json: values.json ?? false,
    ...(values.prometheus !== undefined ? { prometheus: values.prometheus } : {}),
    help: false,
  };
}
