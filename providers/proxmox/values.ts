// The values the PVE resources compare and check: PVE's formats (pve-common JSONSchema.pm; cited
// per pattern), the fields read back from PVE and their diff. Part of the serialized provider.
import type * as pulumi from "@pulumi/pulumi";
import { tokenId, type PveConnection, type PveValue } from "./client";

/** What the dynamic provider host passes for a value not known yet (@pulumi/pulumi runtime/rpc.js unknownValue). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
export const known = (value: unknown) => value !== UNKNOWN && value !== undefined;

/** parse_id (JSONSchema.pm:292-305): the storage id of `pve-storage-id`. */
export const STORAGE_ID = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;
/** pve-configid (JSONSchema.pm:30, :254-262) for a new job; read/update/delete take at most 50 characters (pve-manager PVE/VZDump.pm:35-43). */
export const JOB_ID = /^[a-z][a-z0-9_-]+$/i;
/** fingerprint-sha256 (JSONSchema.pm:169-175). */
export const CERT_FINGERPRINT = /^([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}$/;
/** pve_verify_node_name (JSONSchema.pm:347-355). */
export const NODE_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
/** A PBS auth id: user@realm or a token user@realm!name (PBSPlugin.pm pbs_api_connect :720-732). */
export const PBS_AUTH_ID = /^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+(![A-Za-z][A-Za-z0-9.\-_]+)?$/;
/** The keys of the prune-backups format (pve-storage Plugin.pm:88-124). */
const PRUNE_KEYS = ["keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"];

// ---- values -------------------------------------------------------------------------------

export const text = (value: unknown): string | undefined =>
  typeof value === "string" ? value : typeof value === "number" ? String(value) : undefined;
export const flag = (value: unknown, fallback: boolean) =>
  value === undefined || value === null ? fallback : value === true || value === 1 || value === "1";
const list = (value: unknown): string[] | undefined => {
  const items = (text(value) ?? "")
    .split(/[,;\s]+/)
    .map((item) => item.trim())
    .filter((item) => item !== "");
  return items.length > 0 ? items : undefined;
};
const sorted = <T>(items: readonly T[] | undefined, compare?: (a: T, b: T) => number) =>
  items && items.length > 0 ? [...items].sort(compare) : undefined;

/** prune-backups as keep-* counts: from a property string (storage) or an object (job GET, Backup.pm:158-173). */
export function pruneOf(value: unknown): Record<string, number> | undefined {
  const entries: [string, unknown][] =
    value && typeof value === "object"
      ? Object.entries(value as Record<string, unknown>)
      : (list(value) ?? []).map((part) => {
          const [key = "", count] = part.split("=");
          return [key, count];
        });
  const counts = Object.fromEntries(
    entries.map(([key, count]) => [key, Number(count)] as const).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return Object.keys(counts).length > 0 ? counts : undefined;
}
export const pruneString = (prune: Readonly<Record<string, number>> | undefined) => {
  const counts = pruneOf(prune);
  return counts
    ? Object.entries(counts)
        .map(([key, count]) => `${key}=${count}`)
        .join(",")
    : undefined;
};

/** One managed field: its PVE name, how it is sent, read back and compared. */
export interface Field<T> {
  readonly key: keyof T & string;
  readonly pve: string;
  /** The value PVE is sent (undefined: the field is deleted). */
  readonly encode: (value: unknown) => PveValue | undefined;
  /** The GET value as the input would be. */
  readonly observe: (raw: unknown) => unknown;
  /** Comparable form of an input or observed value. */
  readonly normalize?: (value: unknown) => unknown;
}

const plain = (value: unknown) => text(value);
export const numbers = (value: unknown): number[] | undefined =>
  sorted(Array.isArray(value) ? value.map(Number) : list(value)?.map(Number), (a, b) => a - b);
export const strings = (value: unknown): string[] | undefined =>
  sorted(Array.isArray(value) ? value.map(String) : list(value));

export function field<T>(key: keyof T & string, pve: string, extra: Partial<Field<T>> = {}): Field<T> {
  return {
    key,
    pve,
    encode: (value) => (value === undefined || value === "" ? undefined : (value as PveValue)),
    observe: plain,
    ...extra,
  };
}

export function same<T>(f: Field<T>, a: unknown, b: unknown): boolean {
  const normal = f.normalize ?? ((value: unknown) => (value === "" ? undefined : value));
  return JSON.stringify(normal(a) ?? null) === JSON.stringify(normal(b) ?? null);
}

export function observed<T>(fields: readonly Field<T>[], raw: Record<string, unknown>): Partial<T> {
  return Object.fromEntries(fields.map((f) => [f.key, f.observe(raw[f.pve])])) as Partial<T>;
}

/**
 * The state a read returns, without the fields PVE does not have (undefined). The real engine's
 * dynamic provider host turns a read's props into a protobuf Struct, which refuses undefined
 * ("Unexpected struct type": @pulumi/pulumi v3.248.0 cmd/dynamic-provider/index.ts `read`,
 * google-protobuf struct_pb.js Value.fromJavaScript). Removing the key, rather than keeping the old
 * value, lets a field deleted on PVE show as drift.
 */
export function withoutUndefined<T extends object>(state: T): T {
  return Object.fromEntries(Object.entries(state).filter(([, value]) => value !== undefined)) as T;
}

/** The PUT body that brings `current` to `wanted` (changed fields set, dropped ones deleted). */
export function changes<T>(
  fields: readonly Field<T>[],
  current: Partial<T>,
  wanted: T,
): { set: Record<string, PveValue>; drop: string[] } {
  const set: Record<string, PveValue> = {};
  const drop: string[] = [];
  for (const f of fields) {
    if (same(f, current[f.key], wanted[f.key])) continue;
    const value = f.encode(wanted[f.key]);
    if (value === undefined) drop.push(f.pve);
    else set[f.pve] = value;
  }
  return { set, drop };
}

export const putBody = (set: Record<string, PveValue>, drop: readonly string[]): Record<string, PveValue> => ({
  ...set,
  ...(drop.length > 0 ? { delete: drop.join(",") } : {}),
});

export const sameConnection = (a: PveConnection, b: PveConnection) =>
  a.endpoint === b.endpoint && a.apiKey === b.apiKey && (a.caCertificate ?? "") === (b.caCertificate ?? "");

export function checkConnection(connection: PveConnection, failures: pulumi.dynamic.CheckFailure[]): void {
  if (known(connection.endpoint) && !/^https:\/\/[^/\s]+/.test(connection.endpoint))
    failures.push({ property: "connection", reason: "the PVE endpoint must be https://<node>:8006" });
  if (known(connection.apiKey) && tokenId(connection) === undefined)
    failures.push({
      property: "connection",
      reason: "the API token must be user@realm!tokenid=<secret> (set mailstack:proxmoxApiToken)",
    });
}

export function checkPrune(prune: unknown, failures: pulumi.dynamic.CheckFailure[]): void {
  if (!known(prune)) return;
  for (const [key, count] of Object.entries(prune as Record<string, unknown>)) {
    if (!PRUNE_KEYS.includes(key))
      failures.push({ property: "pruneBackups", reason: `${key} is not one of ${PRUNE_KEYS.join(", ")}` });
    else if (!Number.isInteger(count) || (count as number) < 0)
      failures.push({ property: "pruneBackups", reason: `${key} must be a whole number ≥ 0` });
  }
}
