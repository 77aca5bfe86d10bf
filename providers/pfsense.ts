// A Pulumi dynamic provider for pfSense through the pfSense REST API package (pfrest, v2).
// pfrest ids are list positions that shift when anyone edits the list, so every object is found
// by the stable marker in its description on every read, update and delete; objects without the
// marker are never touched. Changes stay pending until PfSenseApply applies them once: every write
// leaves a new write id, and the apply's revision is derived from all of them. Control parameters
// (apply, placement) go in the body of a POST or PATCH and in the query of a GET or DELETE.
import { createHash, randomUUID } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { dispatchingProvider, handlers } from "./dispatch";
import { createOnce, endpointFrom, rest, type ApiConnection } from "./rest";

export type PfSenseConnection = ApiConnection;

export type PfSenseKind = "alias" | "rule" | "port_forward";

const PATHS: Readonly<Record<PfSenseKind, { one: string; all: string }>> = {
  alias: { one: "/api/v2/firewall/alias", all: "/api/v2/firewall/aliases" },
  rule: { one: "/api/v2/firewall/rule", all: "/api/v2/firewall/rules" },
  port_forward: { one: "/api/v2/firewall/nat/port_forward", all: "/api/v2/firewall/nat/port_forwards" },
};

/** Fields pfrest cannot change in place: a change replaces the object. */
const IMMUTABLE: Readonly<Record<PfSenseKind, readonly string[]>> = {
  alias: ["name", "type"],
  rule: [],
  port_forward: [],
};

export interface PfSenseObjectInputs {
  readonly connection: PfSenseConnection;
  readonly kind: PfSenseKind;
  /** Must occur in spec.descr: identifies the object across renumbering. */
  readonly marker: string;
  readonly spec: Readonly<Record<string, unknown>>;
  /** Position for a new filter rule (first match wins): ours go above the defaults. */
  readonly placement?: number;
}

export interface PfSenseObjectOutputs extends PfSenseObjectInputs {
  /** The object's list position when last seen (informational: never used alone). */
  readonly position: number;
  /** New on every write to pfSense: what makes PfSenseApply run after it. */
  readonly writeId: string;
}

/** The apply's revision: changes whenever any of the objects was written. */
export function applyRevision(writeIds: readonly (string | undefined)[]): string {
  return createHash("sha256")
    .update(writeIds.map((id) => id ?? "").join("\n"))
    .digest("hex");
}

interface PfObject {
  readonly id: number;
  readonly descr?: string;
  readonly [field: string]: unknown;
}

/** pfrest's envelope: {code, status, response_id, message, data}. */
function envelopeMessage(json: unknown): string | undefined {
  if (json && typeof json === "object" && "message" in json) {
    const { message, response_id: responseId } = json as { message?: unknown; response_id?: unknown };
    const id = typeof responseId === "string" && responseId ? ` (${responseId})` : "";
    return `${typeof message === "string" ? message : JSON.stringify(message)}${id}`;
  }
  return undefined;
}

async function call(
  connection: PfSenseConnection,
  method: "GET" | "POST" | "PATCH" | "DELETE",
  path: string,
  options: { query?: Record<string, string | number | boolean>; body?: unknown; idempotent?: boolean } = {},
): Promise<unknown> {
  const response = await rest(
    endpointFrom(connection),
    {
      method,
      path,
      ...(options.query ? { query: options.query } : {}),
      ...(options.body !== undefined ? { body: options.body } : {}),
      ...(options.idempotent !== undefined ? { idempotent: options.idempotent } : {}),
    },
    { "x-api-key": connection.apiKey },
    envelopeMessage,
  );
  const json = response.json as { data?: unknown } | undefined;
  if (!json || typeof json !== "object" || !("data" in json)) {
    throw new Error(`pfSense ${method} ${path}: the answer is not a pfrest envelope`);
  }
  return json.data;
}

/** Our object of a kind, found by its marker (null when it is gone). Two with one marker is an error. */
export async function findOwn(
  connection: PfSenseConnection,
  kind: PfSenseKind,
  marker: string,
): Promise<PfObject | null> {
  const list = await call(connection, "GET", PATHS[kind].all);
  if (!Array.isArray(list)) throw new Error(`pfSense ${PATHS[kind].all}: expected a list`);
  const own = (list as PfObject[]).filter(
    (object) => typeof object.descr === "string" && object.descr.includes(marker),
  );
  if (own.length > 1)
    throw new Error(`pfSense has ${own.length} ${kind} objects marked ${marker}; remove the duplicates by hand`);
  return own[0] ?? null;
}

/** The object's current values of the fields we manage. */
function observedSpec(object: PfObject, spec: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(spec).map((key) => [key, object[key] ?? null]));
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function changedFields(olds: Readonly<Record<string, unknown>>, news: Readonly<Record<string, unknown>>): string[] {
  return [...new Set([...Object.keys(olds), ...Object.keys(news)])].filter((key) => !sameValue(olds[key], news[key]));
}

async function applyIfPending(connection: PfSenseConnection): Promise<boolean> {
  const status = (await call(connection, "GET", "/api/v2/firewall/apply")) as { applied?: boolean } | null;
  if (status?.applied === false) {
    await call(connection, "POST", "/api/v2/firewall/apply", { idempotent: true });
    return true;
  }
  return false;
}

export const pfSenseObjectProvider: pulumi.dynamic.ResourceProvider<PfSenseObjectInputs, PfSenseObjectOutputs> = {
  check(_olds, news) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!(news.kind in PATHS)) failures.push({ property: "kind", reason: `unknown kind ${String(news.kind)}` });
    if (!news.marker || typeof news.spec.descr !== "string" || !news.spec.descr.includes(news.marker)) {
      failures.push({ property: "spec", reason: "spec.descr must contain the marker" });
    }
    if (!/^https:\/\//.test(news.connection.endpoint))
      failures.push({ property: "connection", reason: "the endpoint must be https://" });
    return Promise.resolve({ inputs: news, failures });
  },

  async create(inputs) {
    const { connection, kind, marker, spec } = inputs;
    const placement = inputs.placement !== undefined ? { placement: inputs.placement } : {};
    // An object with our marker is ours (left by an interrupted run): bring it to the spec.
    const adopt = async (existing: PfObject) =>
      (await call(connection, "PATCH", PATHS[kind].one, {
        body: { ...spec, id: existing.id, apply: false, ...placement },
      })) as PfObject;
    const existing = await findOwn(connection, kind, marker);
    const object = existing
      ? await adopt(existing)
      : await createOnce(
          async () =>
            (await call(connection, "POST", PATHS[kind].one, {
              body: { ...spec, apply: false, ...placement },
            })) as PfObject,
          async () => {
            // The POST may have landed although its answer was lost: look before sending it again.
            const landed = await findOwn(connection, kind, marker);
            return landed ? await adopt(landed) : undefined;
          },
          connection.retries,
        );
    return { id: marker, outs: { ...inputs, position: object.id, writeId: randomUUID() } };
  },

  async read(id, props) {
    if (!props) throw new Error(`pfSense object ${id}: nothing to read without its connection`);
    const object = await findOwn(props.connection, props.kind, props.marker);
    if (!object) return {}; // gone: Pulumi drops it from the state
    return { id, props: { ...props, spec: observedSpec(object, props.spec), position: object.id } };
  },

  diff(_id, olds, news) {
    const changes = changedFields(olds.spec, news.spec);
    const replaces = changes.filter((field) => IMMUTABLE[news.kind].includes(field)).map((field) => `spec.${field}`);
    if (olds.kind !== news.kind) replaces.push("kind");
    if (olds.marker !== news.marker) replaces.push("marker");
    const connectionChanged = olds.connection.endpoint !== news.connection.endpoint;
    return Promise.resolve({
      changes: changes.length > 0 || replaces.length > 0 || connectionChanged,
      replaces,
      deleteBeforeReplace: replaces.length > 0 && news.kind === "alias",
      stables: ["marker"],
    });
  },

  async update(_id, olds, news) {
    const object = await findOwn(news.connection, news.kind, news.marker);
    if (!object) throw new Error(`pfSense ${news.kind} ${news.marker} is gone; run \`pulumi refresh\` to recreate it`);
    const fields = Object.fromEntries(changedFields(olds.spec, news.spec).map((key) => [key, news.spec[key]]));
    if (Object.keys(fields).length === 0) return { outs: { ...news, position: object.id, writeId: olds.writeId } };
    await call(news.connection, "PATCH", PATHS[news.kind].one, { body: { ...fields, id: object.id, apply: false } });
    return { outs: { ...news, position: object.id, writeId: randomUUID() } };
  },

  async delete(_id, props) {
    const object = await findOwn(props.connection, props.kind, props.marker);
    if (!object) return;
    await call(props.connection, "DELETE", PATHS[props.kind].one, { query: { id: object.id, apply: false } });
    // A removal is not followed by PfSenseApply in the same deployment: apply it now.
    await applyIfPending(props.connection);
  },
};

export interface PfSenseApplyInputs {
  readonly connection: PfSenseConnection;
  /** applyRevision() of the objects' write ids: the apply runs once after any of them is written. */
  readonly revision: string;
}

export const pfSenseApplyProvider: pulumi.dynamic.ResourceProvider<
  PfSenseApplyInputs,
  PfSenseApplyInputs & { applied: boolean }
> = {
  async create(inputs) {
    return { id: "apply", outs: { ...inputs, applied: await applyIfPending(inputs.connection) } };
  },
  diff(_id, olds, news) {
    return Promise.resolve({
      changes: olds.revision !== news.revision || olds.connection.endpoint !== news.connection.endpoint,
    });
  },
  async update(_id, _olds, news) {
    return { outs: { ...news, applied: await applyIfPending(news.connection) } };
  },
  async delete(_id, props) {
    await applyIfPending(props.connection);
  },
};

// One provider object for the objects and the apply (serialized once per deployment).
const HANDLERS = handlers({ object: pfSenseObjectProvider, apply: pfSenseApplyProvider });
export const pfSenseProvider = dispatchingProvider((kind) => (kind === "apply" ? HANDLERS.apply : HANDLERS.object));

type Connection = pulumi.Input<{
  endpoint: pulumi.Input<string>;
  apiKey: pulumi.Input<string>;
  caCertificate?: pulumi.Input<string>;
}>;

const TYPES: Readonly<Record<PfSenseKind, string>> = {
  alias: "FirewallAlias",
  rule: "FirewallRule",
  port_forward: "PortForward",
};

/** One pfSense object (alias, filter rule or port forward) owned through its marker. */
export class PfSenseObject extends pulumi.dynamic.Resource {
  declare readonly position: pulumi.Output<number>;
  declare readonly spec: pulumi.Output<Record<string, unknown>>;
  declare readonly writeId: pulumi.Output<string>;

  constructor(
    name: string,
    args: {
      connection: Connection;
      kind: PfSenseKind;
      marker: string;
      spec: Record<string, unknown>;
      placement?: number;
    },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      pfSenseProvider,
      name,
      { ...args, position: undefined, writeId: undefined },
      { ...opts, additionalSecretOutputs: ["connection"] },
      "pfsense",
      TYPES[args.kind],
    );
  }
}

/** Applies pfSense's pending firewall changes once, after the objects it depends on. */
export class PfSenseApply extends pulumi.dynamic.Resource {
  declare readonly applied: pulumi.Output<boolean>;

  constructor(
    name: string,
    args: { connection: Connection; revision: pulumi.Input<string> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      pfSenseProvider,
      name,
      { ...args, kind: "apply", applied: undefined },
      { ...opts, additionalSecretOutputs: ["connection"] },
      "pfsense",
      "Apply",
    );
  }
}
