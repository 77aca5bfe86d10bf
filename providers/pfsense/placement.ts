// Where the stack's filter rules go. pfrest's `placement` is an index into the one global list of
// filter rules and a PATCH applies it too (pfrest/pfSense-pkg-RESTAPI@v2.10.0 R/Core/Model.inc
// Model::set_placement, called by _create and _update). The provider places a rule relative to the
// rules of its own interface (RulePlacement) and sends `placement` on an update or adoption only
// when the rule is out of its place, so an update never moves a rule.
import { descrOf, type PfObject } from "./client";

/**
 * evaluates each interface's rules in list order, first match wins; filter.inc filter_rules_generate).
 * - "last": after every other rule of the interface, so the admin's block and reject rules
 *   (blocklists, GeoIP) still apply to the traffic our pass rules let in (for a group of pass
 *   rules the most restrictive place: a pass further down never passes more), but above the
 *   block-everything rules an interface may end with (they would stop everything below them).
 * - "before-first-pass": directly above the first pass rule of the interface that is not the
 *   stack's (on the LAN: "Default allow LAN to any rule"), so our block rule stops the mail host
 *   before any broader allow, while the admin's block rules above it still apply to the host.
 */
export interface RulePlacement {
  /** The markers of the stack's rules on this rule's interface, in evaluation order (this one included). */
  readonly group: readonly string[];
  readonly anchor: "last" | "before-first-pass";
}

export function isPlacement(value: unknown): value is RulePlacement {
  return typeof value === "object" && value !== null && Array.isArray((value as RulePlacement).group);
}

function onInterface(rule: PfObject, name: string): boolean {
  return rule.floating !== true && Array.isArray(rule.interface) && (rule.interface as unknown[]).includes(name);
}

/** A rule's interface (the rule specs name exactly one). */
function interfaceOf(spec: Readonly<Record<string, unknown>>): string {
  return Array.isArray(spec.interface) ? String(spec.interface[0]) : String(spec.interface);
}

/**
 * A block or reject rule for everything (any source, destination, protocol and port): an
 * admin's explicit "block the rest" at the end of an interface, which pass rules must precede.
 */
function blocksEverything(rule: PfObject): boolean {
  return (
    (rule.type === "block" || rule.type === "reject") &&
    rule.source === "any" &&
    rule.destination === "any" &&
    (rule.protocol ?? null) === null
  );
}

/** Whether `at` (an index into `list`, which does not hold the rule) satisfies the group's anchor. */
function anchorHolds(list: readonly PfObject[], at: number, name: string, placement: RulePlacement): boolean {
  const foreign = (rule: PfObject) =>
    onInterface(rule, name) && !placement.group.some((m) => descrOf(rule).includes(m));
  if (placement.anchor === "last")
    return (
      !list
        .slice(at)
        .some(
          (rule) => foreign(rule) && (rule.type === "block" || rule.type === "reject") && !blocksEverything(rule),
        ) && !list.slice(0, at).some((rule) => foreign(rule) && blocksEverything(rule))
    );
  return !list.slice(0, at).some((rule) => foreign(rule) && rule.type === "pass");
}

/**
 * The index, in `list` without the rule, where the rule belongs: right after the stack's rule
 * before it in the group, else right before the one after it, else at the group's anchor ("last":
 * after the interface's rules, above a final block-everything rule; "before-first-pass": above the
 * first pass rule that is not the stack's). pfrest's `placement` means exactly this index on POST
 * and on PATCH (Model::set_placement takes the object out, then inserts it at `placement`).
 */
export function placementIndex(
  list: readonly PfObject[],
  marker: string,
  spec: Readonly<Record<string, unknown>>,
  placement: RulePlacement,
): number {
  const name = interfaceOf(spec);
  const me = placement.group.indexOf(marker);
  const indexOf = (markers: readonly string[]) =>
    markers.map((m) => list.findIndex((rule) => descrOf(rule).includes(m))).filter((index) => index >= 0);
  const before = indexOf(placement.group.slice(0, Math.max(me, 0)));
  const after = indexOf(placement.group.slice(me + 1));
  const neighbour = before.length > 0 ? Math.max(...before) + 1 : after.length > 0 ? Math.min(...after) : undefined;
  if (neighbour !== undefined && anchorHolds(list, neighbour, name, placement)) return neighbour;
  const ours = (rule: PfObject) => placement.group.some((m) => descrOf(rule).includes(m));
  const rules = list.map((rule, index) => ({ rule, index })).filter(({ rule }) => onInterface(rule, name));
  if (placement.anchor === "before-first-pass") {
    const pass = rules.find(({ rule }) => rule.type === "pass" && !ours(rule));
    if (pass) return pass.index;
  } else {
    // Above the block-everything rules the interface ends with.
    let end = rules.length;
    for (let last = rules[end - 1]; last && !ours(last.rule) && blocksEverything(last.rule); last = rules[end - 1])
      end--;
    const final = rules[end];
    if (final) return final.index;
  }
  const last = rules.at(-1);
  return last ? last.index + 1 : list.length;
}

/**
 * Whether the rule at `index` of `list` is where its placement wants it: its anchor holds and the
 * stack's rules of the group keep their order (or no other place would be better).
 */
export function inPlace(
  list: readonly PfObject[],
  index: number,
  marker: string,
  spec: Readonly<Record<string, unknown>>,
  placement: RulePlacement,
): boolean {
  const others = list.filter((_, i) => i !== index);
  const me = placement.group.indexOf(marker);
  const at = (m: string) => list.findIndex((rule) => descrOf(rule).includes(m));
  const holds =
    anchorHolds(others, index, interfaceOf(spec), placement) &&
    placement.group.slice(0, me).every((m) => at(m) < index) &&
    placement.group.slice(me + 1).every((m) => at(m) < 0 || at(m) > index);
  return holds || placementIndex(others, marker, spec, placement) === index;
}
