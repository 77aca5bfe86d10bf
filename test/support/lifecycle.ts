// What `pulumi up` would do when a stack moves from one plan to the next: create, update, replace or
// delete, per resource. The mock engine never diffs, so the replace rules are the providers' own,
// read from their source (cited per type): a changed input that forces a new resource, an input
// whose value flows from a resource that changes (unknown during a preview), `replaceOnChanges`, and
// for our dynamic providers their real diff(). The real engine checks the same on `pulumi preview`.
import { plain, type ProgramRun, type RecordedResource } from "../../plan/engine";
import { mailcowProvider } from "../../providers/mailcow/provider";
import { pfSenseProvider } from "../../providers/pfsense/provider";
import { proxmoxProvider } from "../../providers/proxmox/provider";
import { pbsKeyFileFingerprint } from "../../render/pbs-key";

export type Action = "create" | "update" | "replace" | "delete" | "same";

export interface Step {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly action: Action;
  /** Input paths whose value changed (or became unknown because their source changes). */
  readonly changed: readonly string[];
  /** Why it is replaced. */
  readonly because: readonly string[];
  /** The old URN this resource took over through an alias. */
  readonly aliasOf?: string;
}

/**
 * Input paths that force a new resource, per type token, as the providers' schemas say. A path
 * matches itself and everything below it; `*` matches one list index or key.
 */
const FORCE_NEW: Readonly<Record<string, readonly string[]>> = {
  // bpg/terraform-provider-proxmox v0.112.0 proxmoxtf/resource/vm/vm.go: the *_file_id fields and the
  // cloud-init type (:994-1032), vm_id and node_name by CustomizeDiff (:1664-1671, :1781-1790),
  // clone (:601-633), disk.file_id (vm/disk/schema.go:136-143). disk.import_from is not ForceNew.
  "proxmoxve:index/vmLegacy:VmLegacy": [
    "initialization.userDataFileId",
    "initialization.networkDataFileId",
    "initialization.vendorDataFileId",
    "initialization.metaDataFileId",
    "initialization.type",
    "vmId",
    "nodeName",
    "clone",
    "disks.*.fileId",
  ],
  // fwprovider/nodes/resource_download_file.go:216-327 (RequiresReplace).
  "proxmoxve:download/file:File": [
    "contentType",
    "fileName",
    "datastoreId",
    "nodeName",
    "url",
    "checksum",
    "checksumAlgorithm",
    "decompressionAlgorithm",
  ],
  // proxmoxtf/resource/file.go: every field describing the file is ForceNew (:84-217).
  "proxmoxve:index/fileLegacy:FileLegacy": [
    "contentType",
    "datastoreId",
    "fileMode",
    "nodeName",
    "sourceFile",
    "sourceRaw",
  ],
  // fwprovider/cluster/ha/resource_harule.go:77-99.
  "proxmoxve:index/harule:Harule": ["rule", "type"],
  // v0.111.1 fwprovider/cluster/replication/resource.go:75-101 (id, target, type: RequiresReplace).
  "proxmoxve:index/replication:Replication": ["resourceId", "target", "type"],
  // pulumi-command provider/pkg/provider/common/inputs.go: triggers are replaceOnChanges.
  "command:remote:Command": ["triggers"],
  // terraform-provider-tls internal/provider/resource_private_key.go: every input RequiresReplace.
  "tls:index/privateKey:PrivateKey": ["algorithm", "rsaBits", "ecdsaCurve"],
  // terraform-provider-random resource_password.go / resource_bytes.go: every input RequiresReplace.
  "random:index/randomPassword:RandomPassword": [
    "length",
    "special",
    "upper",
    "lower",
    "numeric",
    "minUpper",
    "minLower",
    "minNumeric",
    "minSpecial",
    "overrideSpecial",
    "keepers",
  ],
  "random:index/randomBytes:RandomBytes": ["length", "keepers"],
  // cloudflare/terraform-provider-cloudflare v5.22.0 internal/services/*/schema.go (RequiresReplace).
  "cloudflare:index/dnsRecord:DnsRecord": ["zoneId", "type"],
  "cloudflare:index/zoneDnssec:ZoneDnssec": ["zoneId"],
  "cloudflare:index/zoneSetting:ZoneSetting": ["zoneId", "settingId"],
  "cloudflare:index/workersScript:WorkersScript": ["accountId", "scriptName"],
  "cloudflare:index/workersCustomDomain:WorkersCustomDomain": [
    "accountId",
    "hostname",
    "service",
    "zoneId",
    "environment",
  ],
};

/** What our dynamic providers return from create, beyond their inputs (for their diff's `olds`). */
function createdOutputs(resource: RecordedResource, inputs: Record<string, unknown>): Record<string, unknown> {
  const kind = inputs.kind;
  if (kind === "dkim") {
    // providers/mailcow/domains.ts importDkim: publicKey is the key's SPKI.
    return { publicKey: "[as imported]" };
  }
  if (kind === "admin") return { forceTfa: true };
  if (kind === "pbsStorage") {
    // providers/proxmox/storage.ts create: the key fingerprint PVE stores, content backup, enabled.
    const key = inputs.encryptionKey;
    return {
      keyFingerprint: typeof key === "string" && key.startsWith("{") ? pbsKeyFileFingerprint(key) : null,
      content: "backup",
      disabled: false,
    };
  }
  if (kind === "domain" || kind === "mailbox") return { adopted: false };
  void resource;
  return {};
}

function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    if (entries.length === 0) out.set(prefix, JSON.stringify(value));
    for (const [key, child] of entries) flatten(child, prefix ? `${prefix}.${key}` : key, out);
    return;
  }
  out.set(prefix, JSON.stringify(value));
}

function changedPaths(before: unknown, after: unknown): string[] {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  flatten(before, "", a);
  flatten(after, "", b);
  return [...new Set([...a.keys(), ...b.keys()])].filter((path) => a.get(path) !== b.get(path)).sort();
}

const matches = (pattern: string, path: string) => {
  const p = pattern.split(".");
  const q = path.split(".");
  return p.length <= q.length && p.every((part, i) => part === "*" || part === q[i]);
};

function visibleInputs(resource: RecordedResource): Record<string, unknown> {
  const { __provider: _code, ...inputs } = plain(resource.inputs) as Record<string, unknown>;
  return inputs;
}

/**
 * An alias as the SDK sends it in the registration (proto/alias.proto, `Alias.toObject()`): a URN,
 * or a spec whose empty fields the engine fills in from the resource.
 */
export interface AliasRequest {
  readonly urn?: string;
  readonly spec?: {
    readonly name?: string;
    readonly type?: string;
    readonly stack?: string;
    readonly project?: string;
    readonly parenturn?: string;
    readonly noparent?: boolean;
  };
}

/**
 * The old URN an alias names, as the engine collapses it (pulumi/pulumi@v3.248.0
 * pkg/resource/deploy/step_generator.go collapseAliasToUrn :505-545, URN from
 * sdk/go/common/resource/alias.go CreateURN): the spec's name, type, parent, project and stack,
 * each defaulting to the resource's own; a parent that is the root stack means no parent. (The
 * engine also multiplies in the aliases of an aliased parent, :580-608; no parent here has one.)
 */
export function aliasUrn(
  resource: { readonly urn: string; readonly type: string; readonly name: string; readonly parent?: string },
  alias: AliasRequest,
): string {
  if (alias.urn) return alias.urn;
  const spec = alias.spec ?? {};
  const [, stack = "", project = ""] = /^urn:pulumi:(.*?)::(.*?)::/.exec(resource.urn) ?? [];
  let parent = spec.parenturn || resource.parent || "";
  if (spec.noparent || parent.split("::")[2] === "pulumi:pulumi:Stack") parent = "";
  const prefix = parent
    ? `${parent.slice(0, parent.lastIndexOf("::"))}$`
    : `urn:pulumi:${spec.stack || stack}::${spec.project || project}::`;
  return `${prefix}${spec.type || resource.type}::${spec.name || resource.name}`;
}

/**
 * The steps from `before` to `after`, in URN order. `aliases` (URN → the old URNs its aliases name)
 * lets a resource take over an old one as the engine's getOldResource does (step_generator.go
 * :610-660): its own URN first, then each alias; the old resource it took over is not deleted.
 */
export async function planChanges(
  before: ProgramRun,
  after: ProgramRun,
  aliases: ReadonlyMap<string, readonly string[]> = new Map(),
): Promise<Step[]> {
  const olds = new Map(before.resources.map((r) => [r.urn, r]));
  const news = new Map(after.resources.map((r) => [r.urn, r]));
  const steps = new Map<string, Step>();
  const order = [...after.resources];
  const takenOver = new Set<string>();

  // Resources are registered in dependency order; a changing source makes its dependents'
  // property values unknown in a preview, so walk in that order.
  for (const resource of order) {
    const aliasOf = olds.has(resource.urn)
      ? undefined
      : (aliases.get(resource.urn) ?? []).find((urn) => olds.has(urn) && !news.has(urn));
    const old = olds.get(aliasOf ?? resource.urn);
    if (aliasOf) takenOver.add(aliasOf);
    if (!old) {
      steps.set(resource.urn, {
        urn: resource.urn,
        type: resource.type,
        name: resource.name,
        action: "create",
        changed: [],
        because: [],
      });
      continue;
    }
    if (!resource.custom) {
      steps.set(resource.urn, {
        urn: resource.urn,
        type: resource.type,
        name: resource.name,
        action: "same",
        changed: [],
        because: [],
        ...(aliasOf ? { aliasOf } : {}),
      });
      continue;
    }
    const oldInputs = visibleInputs(old);
    const newInputs = visibleInputs(resource);
    const ignored = (resource.options.ignoreChanges as string[] | undefined) ?? [];
    const changed = new Set(
      changedPaths(oldInputs, newInputs).filter((path) => !ignored.some((i) => matches(i, path))),
    );
    // Inputs fed by a resource that is created, updated or replaced are unknown until it has run.
    for (const [property, sources] of Object.entries(resource.propertyDependencies)) {
      if (sources.some((source) => ["create", "update", "replace"].includes(steps.get(source)?.action ?? "same"))) {
        if (!ignored.some((i) => matches(i, property))) changed.add(property);
      }
    }
    const because: string[] = [];
    const forceNew = [
      ...(FORCE_NEW[resource.type] ?? []),
      ...((resource.options.replaceOnChanges as string[] | undefined) ?? []),
    ];
    for (const path of changed) if (forceNew.some((pattern) => matches(pattern, path))) because.push(path);
    if (resource.type.startsWith("pulumi-nodejs:dynamic/") && changed.size > 0) {
      const provider = resource.type.includes("/mailcow:")
        ? mailcowProvider
        : resource.type.includes("/proxmox:")
          ? proxmoxProvider
          : pfSenseProvider;
      const diff = await provider.diff?.(resource.name, { ...oldInputs, ...createdOutputs(old, oldInputs) }, newInputs);
      because.push(...(diff?.replaces ?? []));
    }
    const action: Action = because.length > 0 ? "replace" : changed.size > 0 ? "update" : "same";
    steps.set(resource.urn, {
      urn: resource.urn,
      type: resource.type,
      name: resource.name,
      action,
      changed: [...changed].sort(),
      because,
      ...(aliasOf ? { aliasOf } : {}),
    });
  }
  for (const old of before.resources) {
    if (!news.has(old.urn) && !takenOver.has(old.urn))
      steps.set(old.urn, { urn: old.urn, type: old.type, name: old.name, action: "delete", changed: [], because: [] });
  }
  return [...steps.values()].sort((a, b) => (a.urn < b.urn ? -1 : 1));
}

/** name → action for every resource that does something. */
export function summary(steps: readonly Step[]): Record<string, Action> {
  return Object.fromEntries(steps.filter((s) => s.action !== "same").map((s) => [s.name, s.action]));
}
