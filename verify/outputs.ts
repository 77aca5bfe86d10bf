// The stack outputs `verify` checks against (outputs.ts, StackOutputs), read from
// `pulumi stack output --json` or a file. Only what verify needs is validated; values a
// provider did not report yet ("[unknown]" in the plan) or secrets count as absent: without
// --show-secrets the CLI prints a secret as "[secret]" (pulumi v3.248.0
// pkg/cmd/pulumi/stack/stack_output.go, display.MassageSecrets in pkg/backend/display/json.go).
import { z } from "zod";
import type { StackOutputs } from "../outputs";
import type { DeclaredRecord } from "../render/dns-record";
import type { Security } from "../render/endpoints";
import type { TlsVersion } from "../render/mailcow";

/** The stack outputs verify reads (none is secret); the scheduled host gets exactly these. */
export const VERIFIED_OUTPUTS = [
  "environment",
  "mailHost",
  "tlsMinVersion",
  "endpoints",
  "publicPorts",
  "domains",
  "zones",
  "tlsa",
] as const satisfies readonly (keyof StackOutputs)[];

export interface TargetEndpoint {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly security: Security;
}

export interface TargetDomain {
  readonly name: string;
  readonly mx: string;
  readonly dkim: { readonly name: string; readonly value: string };
  readonly mtaStsPolicyUrl: string;
  readonly mtaStsPolicyId: string;
  /** The policy text the stack serves (absent in outputs of older stacks). */
  readonly mtaStsPolicy?: string;
}

export interface TargetZone {
  readonly name: string;
  readonly nameServers?: readonly string[];
  /** "<zone>. 3600 IN DS <tag> <alg> <type> <hex>" as Cloudflare reports it. */
  readonly ds?: string;
  /** The records the stack manages in the zone (absent in outputs of older stacks). */
  readonly records?: readonly DeclaredRecord[];
}

export interface Target {
  readonly environment: string;
  readonly host: { readonly name: string; readonly ipv4: string; readonly ipv6: string };
  /** Absent in outputs of older stacks (then 1.2, the default, is assumed). */
  readonly tlsMinVersion?: TlsVersion;
  readonly endpoints: readonly TargetEndpoint[];
  readonly publicPorts: readonly number[];
  readonly domains: readonly TargetDomain[];
  readonly zones: readonly TargetZone[];
  readonly tlsa?: { readonly name: string; readonly values: readonly string[] };
}

export class OutputsError extends Error {
  override readonly name = "OutputsError";
}

const MARKERS = new Set(["[unknown]", "[secret]"]);
/** A string output that may not be known: markers become undefined. */
const known = z
  .string()
  .optional()
  .transform((value) => (value === undefined || MARKERS.has(value) ? undefined : value));
const name = z
  .string()
  .min(1)
  .transform((value) => value.toLowerCase().replace(/\.$/, ""));

const recordSchema = z.object({
  name,
  type: z.enum(["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "TLSA", "CAA"]),
  value: z.string(),
});

const schema = z.object({
  environment: z.string().default("production"),
  mailHost: z.object({ hostname: name, publicIpv4: z.string(), publicIpv6: z.string() }),
  tlsMinVersion: z.enum(["1.2", "1.3"]).optional(),
  endpoints: z.record(
    z.string(),
    z.object({ host: name, port: z.number().int(), security: z.enum(["starttls", "implicit-tls", "https"]) }),
  ),
  publicPorts: z.array(z.number().int()),
  domains: z.record(
    z.string(),
    z.object({
      mx: name,
      dkim: z.object({ name, value: z.string() }),
      mtaStsPolicyUrl: z.string(),
      mtaStsPolicyId: z.string(),
      mtaStsPolicy: z.string().optional(),
    }),
  ),
  zones: z.record(
    z.string(),
    z.object({
      nameServers: z.array(name).optional(),
      ds: known,
      records: z.array(recordSchema).optional(),
    }),
  ),
  tlsa: z.object({ name, values: z.array(z.string()) }).optional(),
});

/** Validates parsed JSON; names every missing or malformed output. */
export function targetFromOutputs(json: unknown, source: string): Target {
  const result = schema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const where = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
      return `  - ${where}: ${/received undefined$/.test(issue.message) ? "missing" : issue.message}`;
    });
    throw new OutputsError(
      `${source} does not hold mailstack's stack outputs:\n${problems.join("\n")}\n` +
        "Pass the output of `pulumi stack output --json` for a mailstack stack (or the plan's out/<stack>/outputs.json).",
    );
  }
  const outputs = result.data;
  return {
    environment: outputs.environment,
    host: { name: outputs.mailHost.hostname, ipv4: outputs.mailHost.publicIpv4, ipv6: outputs.mailHost.publicIpv6 },
    ...(outputs.tlsMinVersion ? { tlsMinVersion: outputs.tlsMinVersion } : {}),
    endpoints: Object.entries(outputs.endpoints).map(([endpoint, value]) => ({ name: endpoint, ...value })),
    publicPorts: outputs.publicPorts,
    domains: Object.entries(outputs.domains).map(([domain, value]) => ({
      name: domain.toLowerCase(),
      mx: value.mx,
      dkim: value.dkim,
      mtaStsPolicyUrl: value.mtaStsPolicyUrl,
      mtaStsPolicyId: value.mtaStsPolicyId,
      ...(value.mtaStsPolicy !== undefined ? { mtaStsPolicy: value.mtaStsPolicy } : {}),
    })),
    zones: Object.entries(outputs.zones).map(([zone, value]) => ({
      name: zone.toLowerCase(),
      ...(value.nameServers ? { nameServers: value.nameServers } : {}),
      ...(value.ds !== undefined ? { ds: value.ds } : {}),
      ...(value.records ? { records: value.records } : {}),
    })),
    ...(outputs.tlsa ? { tlsa: outputs.tlsa } : {}),
  };
}

export function parseOutputsText(text: string, source: string): Target {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new OutputsError(`${source} is not JSON (${(error as Error).message})`);
  }
  return targetFromOutputs(json, source);
}
