// A Pulumi dynamic provider for pfSense through the pfSense REST API package (pfrest v2, read in
// pfrest/pfSense-pkg-RESTAPI@v2.10.0, files under pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/,
// cited as R/…). The modules beside this one hold what it relies on: client.ts (requests,
// prerequisites), objects.ts (finding our objects by marker), placement.ts (where rules go),
// apply.ts (one writer per pfSense, the confirmed apply). A DELETE or PATCH is addressed by
// position: after an answer that leaves open whether it landed, the object is looked up again
// before the request is sent again (resendAfterLookup).
// Self-contained: dynamic providers are serialized with everything they import (no module-level
// Set or Map, see ../rest.ts).
import { randomUUID } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import { dispatchingProvider, handlers } from "../dispatch";
import { createOnce, resendAfterLookup } from "../rest";
import { applyConfirmed, exclusive } from "./apply";
import { call, descrOf, listOf, PATHS, type PfObject, type PfSenseConnection, type PfSenseKind } from "./client";
import {
  changedFields,
  findOwn,
  findSelf,
  observedSpec,
  type PfSenseObjectInputs,
  type PfSenseObjectOutputs,
} from "./objects";
import { inPlace, isPlacement, placementIndex } from "./placement";

/** An alias that rules or port forwards still name: deleting it would make pfSense skip them. */
async function refuseIfReferenced(connection: PfSenseConnection, name: string): Promise<void> {
  const users: string[] = [];
  const names = (object: PfObject, fields: readonly string[]) =>
    fields.some((field) => typeof object[field] === "string" && String(object[field]).replace(/^!/, "") === name);
  for (const [kind, what] of [
    ["rule", "firewall rule"],
    ["port_forward", "port forward"],
  ] as const) {
    for (const object of await listOf(connection, kind))
      if (names(object, ["source", "destination", "source_port", "destination_port", "target", "local_port"]))
        users.push(`${what} ${object.id} "${descrOf(object)}"`);
  }
  for (const alias of await listOf(connection, "alias"))
    if (Array.isArray(alias.address) && (alias.address as unknown[]).includes(name))
      users.push(`alias ${String(alias.name)}`);
  if (users.length > 0)
    throw new Error(
      `pfSense alias ${name} is still used by ${users.join(", ")}: pfSense would leave those out of the ` +
        `ruleset once the alias is gone. Remove the references in pfSense first, then run \`pulumi up\` again`,
    );
}

/** The fields a PATCH sends to bring `object` to `spec` (an alias's address goes with its details). */
function patchFields(kind: PfSenseKind, object: PfObject, spec: Readonly<Record<string, unknown>>) {
  const fields: Record<string, unknown> = Object.fromEntries(
    changedFields(observedSpec(object, spec), spec).map((key) => [key, spec[key]]),
  );
  // FirewallAlias validate_detail: more details (e.g. added in the GUI) than addresses is refused.
  if (kind === "alias" && "address" in fields) fields.detail = [];
  return fields;
}

async function writeObject(
  inputs: PfSenseObjectInputs,
  markers?: readonly string[],
): Promise<{ position: number; wrote: boolean }> {
  const { connection, kind, spec, marker, placement } = inputs;
  let wrote = false;
  const position = await resendAfterLookup(async () => {
    const list = await listOf(connection, kind);
    const object = await findOwn(connection, kind, marker, {
      ...(typeof spec.name === "string" ? { name: spec.name } : {}),
      ...(markers ? { markers } : {}),
      list,
    });
    if (!object) return undefined;
    const fields = patchFields(kind, object, spec);
    const move =
      kind === "rule" && isPlacement(placement) && !inPlace(list, object.id, marker, spec, placement)
        ? {
            placement: placementIndex(
              list.filter((rule) => rule !== object),
              marker,
              spec,
              placement,
            ),
          }
        : {};
    if (Object.keys(fields).length === 0 && !("placement" in move)) return object.id;
    wrote = true;
    const written = (await call(connection, "PATCH", PATHS[kind].one, {
      body: { ...fields, id: object.id, apply: false, ...move },
      idempotent: false,
    })) as PfObject;
    return written.id;
  }, connection.retries);
  if (position === undefined)
    throw new Error(`pfSense ${kind} ${marker} is gone; run \`pulumi refresh\` to recreate it`);
  return { position, wrote };
}

export const pfSenseObjectProvider: pulumi.dynamic.ResourceProvider<PfSenseObjectInputs, PfSenseObjectOutputs> = {
  check(_olds, news) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!(news.kind in PATHS)) failures.push({ property: "kind", reason: `unknown kind ${String(news.kind)}` });
    if (!news.marker || typeof news.spec.descr !== "string" || !news.spec.descr.startsWith(news.marker))
      failures.push({
        property: "spec",
        reason: "spec.descr must start with the marker (pf logs show its first 52 characters)",
      });
    if (news.placement && !(isPlacement(news.placement) && news.placement.group.includes(news.marker)))
      failures.push({ property: "placement", reason: "placement.group must hold the rule's own marker" });
    if (!/^https:\/\//.test(news.connection.endpoint))
      failures.push({ property: "connection", reason: "the endpoint must be https://" });
    return Promise.resolve({ inputs: news, failures });
  },

  create(inputs) {
    const { connection, kind, marker, spec, placement } = inputs;
    return exclusive(connection, async () => {
      let list: PfObject[] | undefined = await listOf(connection, kind);
      const existing = await findSelf(connection, inputs, list);
      // An object with our marker is ours (left by an interrupted run): bring it to the spec, in place.
      const position = existing
        ? (await writeObject(inputs)).position
        : await createOnce(
            async () => {
              // The list just read, or a fresh one when the POST is sent again.
              const now = list ?? (await listOf(connection, kind));
              list = undefined;
              const at =
                kind === "rule" && isPlacement(placement)
                  ? { placement: placementIndex(now, marker, spec, placement) }
                  : {};
              const created = (await call(connection, "POST", PATHS[kind].one, {
                body: { ...spec, apply: false, ...at },
              })) as PfObject;
              return created.id;
            },
            async () => {
              // The POST may have landed although its answer was lost: look before sending it again.
              const landed = await findSelf(connection, inputs);
              return landed ? (await writeObject(inputs)).position : undefined;
            },
            connection.retries,
          );
      return { id: marker, outs: { ...inputs, position, inPlace: true, writeId: randomUUID() } };
    });
  },

  async read(id, props) {
    if (!props) throw new Error(`pfSense object ${id}: nothing to read without its connection`);
    const list = await listOf(props.connection, props.kind);
    const object = await findSelf(props.connection, props, list);
    if (!object) return {}; // gone: Pulumi drops it from the state
    // (A state written before placements were groups holds a number here: nothing to check then.)
    const placed =
      props.kind === "rule" && isPlacement(props.placement)
        ? inPlace(list, list.indexOf(object), props.marker, props.spec, props.placement)
        : true;
    return { id, props: { ...props, spec: observedSpec(object, props.spec), position: object.id, inPlace: placed } };
  },

  diff(_id, olds, news) {
    const changes = changedFields(olds.spec, news.spec);
    // Only an alias's name cannot change in place (R/Models/FirewallAlias.inc: `name` is not
    // editable, `type` is). A rule or port forward is known by its marker: a new one is a new object.
    const replaces = changes.filter((field) => news.kind === "alias" && field === "name").map((f) => `spec.${f}`);
    if (olds.kind !== news.kind) replaces.push("kind");
    if (olds.marker !== news.marker && news.kind !== "alias") replaces.push("marker");
    const connectionChanged = olds.connection.endpoint !== news.connection.endpoint;
    return Promise.resolve({
      changes: changes.length > 0 || replaces.length > 0 || connectionChanged || olds.inPlace === false,
      replaces,
      // The replacement is created first: alias names are unique, so the new one never collides,
      // and the rules move to it before the old alias goes (pfSense skips rules whose alias is gone).
      deleteBeforeReplace: false,
      stables: ["marker"],
    });
  },

  async update(_id, olds, news) {
    return exclusive(news.connection, async () => {
      // An alias is known by its name: a new marker (a renamed stack) is written into its description.
      const { position, wrote } = await writeObject(news, [olds.marker, news.marker]);
      return { outs: { ...news, position, inPlace: true, writeId: wrote ? randomUUID() : olds.writeId } };
    });
  },

  async delete(_id, props) {
    await exclusive(props.connection, async (gate) => {
      const { connection, kind } = props;
      await resendAfterLookup(async () => {
        const object = await findSelf(connection, props);
        if (!object) return;
        if (kind === "alias") await refuseIfReferenced(connection, String(object.name));
        // A removal is not followed by PfSenseApply (deletes run last): apply it when the queue is empty.
        gate.unapplied = true;
        await call(connection, "DELETE", PATHS[kind].one, {
          query: { id: object.id, apply: false },
          idempotent: false,
        });
      }, connection.retries);
    });
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
    await exclusive(inputs.connection, (gate) => applyConfirmed(inputs.connection, gate));
    return { id: "apply", outs: { ...inputs, applied: true } };
  },
  diff(_id, olds, news) {
    return Promise.resolve({
      changes: olds.revision !== news.revision || olds.connection.endpoint !== news.connection.endpoint,
    });
  },
  async update(_id, _olds, news) {
    await exclusive(news.connection, (gate) => applyConfirmed(news.connection, gate));
    return { outs: { ...news, applied: true } };
  },
  // Deleted before the objects it depends on; their removals apply themselves.
  delete: () => Promise.resolve(),
};

// One provider object for the objects and the apply (serialized once per deployment).
const HANDLERS = handlers({ object: pfSenseObjectProvider, apply: pfSenseApplyProvider });
export const pfSenseProvider = dispatchingProvider((kind) => (kind === "apply" ? HANDLERS.apply : HANDLERS.object));
