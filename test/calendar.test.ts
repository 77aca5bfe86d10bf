import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { calendarProblem } from "../config/calendar";
import { run } from "./support/exec";
import { requireTool } from "./tools";

/** systemd's verdict for each expression, from one `systemd-analyze calendar` call. */
async function systemdAccepts(expressions: readonly string[]): Promise<Map<string, boolean>> {
  requireTool("systemd-analyze");
  const result = await run("systemd-analyze", ["calendar", "--iterations=1", ...expressions], {
    env: { ...process.env, TZ: "UTC", SYSTEMD_COLORS: "0" },
  });
  const output = `${result.stdout}\n${result.stderr}`;
  const failed = new Set([...output.matchAll(/Failed to parse calendar specification '([^']*)'/g)].map((m) => m[1]));
  return new Map(expressions.map((expression) => [expression, !failed.has(expression)]));
}

const pick = <T>(values: readonly T[]) => fc.constantFrom(...values);
const weekday = pick(["Mon", "tue", "WED", "Thursday", "fri", "Sat", "sun", "Funday"]);
const weekdays = fc.oneof(
  weekday,
  fc.tuple(weekday, weekday).map(([a, b]) => `${a}..${b}`),
  fc.tuple(weekday, weekday).map(([a, b]) => `${a},${b}`),
);
const value = (max: number) => fc.integer({ min: 0, max: max + 3 }).map(String);
const component = (max: number) =>
  fc.oneof(
    pick(["*"]),
    value(max),
    fc.tuple(value(max), value(max)).map(([a, b]) => `${a}..${b}`),
    fc.tuple(value(max), fc.integer({ min: 0, max: 5 })).map(([a, n]) => `${a}/${n}`),
    fc.tuple(value(max), value(max)).map(([a, b]) => `${a},${b}`),
    fc.integer({ min: 1, max: 4 }).map((n) => `*/${n}`),
  );
const year = fc.oneof(pick(["*", "2026", "1969", "2200", "2030..2031"]));
const date = fc.oneof(
  fc.tuple(year, component(12), component(31)).map(([y, m, d]) => `${y}-${m}-${d}`),
  fc.tuple(component(12), component(31)).map(([m, d]) => `${m}-${d}`),
  fc.tuple(year, component(12), component(31)).map(([y, m, d]) => `${y}-${m}~${d}`),
);
const time = fc.oneof(
  fc.tuple(component(23), component(59)).map(([h, m]) => `${h}:${m}`),
  fc.tuple(component(23), component(59), component(59)).map(([h, m, s]) => `${h}:${m}:${s}`),
);
const expression = fc
  .oneof(
    {
      weight: 6,
      arbitrary: fc.tuple(
        fc.option(weekdays),
        fc.option(date),
        fc.option(time),
        fc.option(pick(["UTC", "Europe/Berlin"])),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(
        fc.constant(null),
        pick(["daily", "weekly", "hourly", "monthly", "sometimes"]),
        fc.constant(null),
        fc.constant(null),
      ),
    },
  )
  .map((parts) => parts.filter((part): part is string => part !== null).join(" "));

describe("systemd calendar validation", () => {
  const common = [
    "daily",
    "weekly",
    "*-*-* 02:00",
    "*-*-* 02:30:00",
    "Mon..Fri *-*-* 22:15",
    "Sat,Sun 03:00",
    "Sun *-*-* 05:00 Europe/Berlin",
    "*-*-01 04:00:00 UTC",
    "*-*~01 23:00",
    "*-01,04,07,10-01 06:00",
    "*:0/15",
    "0/6:00",
    "2027-01-01 00:00:00",
  ];

  it("accepts the common schedule forms, as systemd does", async () => {
    const verdicts = await systemdAccepts(common);
    expect(common.filter((e) => !verdicts.get(e))).toEqual([]);
    expect(common.filter((e) => calendarProblem(e) !== undefined)).toEqual([]);
  });

  it("never accepts an expression systemd rejects (generated expressions)", async () => {
    const expressions = [...new Set(fc.sample(expression, { numRuns: 800, seed: 20261127 }))].filter(
      (e) => e.trim() !== "",
    );
    const verdicts = await systemdAccepts(expressions);
    const unsound = expressions
      .filter((e) => calendarProblem(e) === undefined && verdicts.get(e) === false)
      .map((e) => `${e} is rejected by systemd but accepted here`);
    expect(unsound).toEqual([]);
    // The sample must exercise both verdicts, and we may reject only exotic valid forms.
    const systemdValid = expressions.filter((e) => verdicts.get(e));
    const oursValid = systemdValid.filter((e) => calendarProblem(e) === undefined);
    expect(systemdValid.length).toBeGreaterThan(50);
    expect(expressions.length - systemdValid.length).toBeGreaterThan(100);
    expect(oursValid.length / systemdValid.length).toBeGreaterThan(0.9);
  });

  it.each([
    ["*-*-* 02:00", undefined],
    ["Sun *-*-* 05:00 Europe/Berlin", undefined],
    ["daily", undefined],
    ["every night", /unexpected|weekday/],
    ["*-*-* 25:00", /hour 25/],
    ["Sat..Mon", /backwards/],
    ["*/2:00", /not allowed/],
  ])("%s → %s", (input, problem) => {
    if (problem === undefined) expect(calendarProblem(input)).toBeUndefined();
    else expect(calendarProblem(input)).toMatch(problem);
  });
});
