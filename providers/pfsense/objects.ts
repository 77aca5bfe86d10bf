// Finding the stack's pfSense objects again. Ids are positions in one list per kind (pfrest
// pfrest/pfSense-pkg-RESTAPI@v2.10.0 R/Core/Model.inc; the filter rules are one list across all
// interfaces, config path filter/rule), so every object is found again before each write: rules
// and port forwards by the marker in their description, aliases by their name (unique and not
// editable, R/Models/FirewallAlias.inc) with the marker proving they are ours. Objects without
// the marker are never touched.
import { descrOf, listOf, type PfObject, type PfSenseConnection, type PfSenseKind } from "./client";
import type { RulePlacement } from "./placement";

export interface PfSenseObjectInputs {
  readonly connection: PfSenseConnection;
  readonly kind: PfSenseKind;
  /** The first thing in spec.descr (pf logs show about 52 characters of it): identifies the object. */
  readonly marker: string;
  readonly spec: Readonly<Record<string, unknown>>;
  /** Filter rules only. */
  readonly placement?: RulePlacement;
}

export interface PfSenseObjectOutputs extends PfSenseObjectInputs {
  /** The object's list position when last seen (informational: never used to address it). */
  readonly position: number;
  /** False when a refresh found the rule out of its place: the next update puts it back. */
  readonly inPlace: boolean;
  /** New on every write to pfSense: what makes PfSenseApply run after it. */
  readonly writeId: string;
}

/**
 * Our object of a kind (null when it is gone). Rules and port forwards are found by the marker;
 * two with one marker is an error. An alias is found by its name and must carry one of `markers`.
 */
export async function findOwn(
  connection: PfSenseConnection,
  kind: PfSenseKind,
  marker: string,
  options: { name?: string; markers?: readonly string[]; list?: readonly PfObject[] } = {},
): Promise<PfObject | null> {
  const list = options.list ?? (await listOf(connection, kind));
  if (kind === "alias" && options.name !== undefined) {
    const alias = list.find((object) => object.name === options.name);
    if (!alias) return null;
    if (!(options.markers ?? [marker]).some((m) => descrOf(alias).includes(m)))
      throw new Error(
        `pfSense already has an alias named ${options.name} that is not the stack's (its description lacks ${marker}): ` +
          `rename or delete it in Firewall > Aliases`,
      );
    return alias;
  }
  const own = list.filter((object) => descrOf(object).includes(marker));
  if (own.length > 1)
    throw new Error(`pfSense has ${own.length} ${kind} objects marked ${marker}; remove the duplicates by hand`);
  return own[0] ?? null;
}

export function findSelf(connection: PfSenseConnection, inputs: PfSenseObjectInputs, list?: readonly PfObject[]) {
  return findOwn(connection, inputs.kind, inputs.marker, {
    ...(typeof inputs.spec.name === "string" ? { name: inputs.spec.name } : {}),
    ...(list ? { list } : {}),
  });
}

/** The object's current values of the fields we manage. */
export function observedSpec(object: PfObject, spec: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(spec).map((key) => [key, object[key] ?? null]));
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export function changedFields(
  olds: Readonly<Record<string, unknown>>,
  news: Readonly<Record<string, unknown>>,
): string[] {
  return [...new Set([...Object.keys(olds), ...Object.keys(news)])].filter((key) => !sameValue(olds[key], news[key]));
}
