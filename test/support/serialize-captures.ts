// Serializes small functions that capture one kind of module-level value each, the way `pulumi up`
// serializes a dynamic provider (CommonJS, see revive.ts), calls each revived function and prints
// one JSON line per kind: what the original returned and what the revived one returned or threw.
// test/provider-serialization.test.ts reads it to show which captured values survive.
import { revive } from "./revive";

const SET = new Set(["domain_added_sogo_failed"]);
const MAP = new Map([["domain_added_sogo_failed", true]]);
const ARRAY: readonly string[] = ["domain_added_sogo_failed"];
const RECORD: Readonly<Record<string, boolean>> = { domain_added_sogo_failed: true };
const DATE = new Date(Date.UTC(2026, 0, 1));
const SYMBOL = Symbol("state");
const TAGGED = { [SYMBOL]: "kept" };
const STICKY = /sogo/g;
STICKY.lastIndex = 5;
class Counter {
  #count = 1;
  count(): number {
    return this.#count;
  }
}
class Plain {
  readonly count = 1;
  read(): number {
    return this.count;
  }
}
const PRIVATE = new Counter();
const PLAIN = new Plain();

const KEY = "domain_added_sogo_failed";
const captures: Record<string, () => unknown> = {
  Set: () => SET.has(KEY),
  Map: () => MAP.get(KEY),
  Array: () => ARRAY.includes(KEY),
  "plain object": () => RECORD[KEY],
  Date: () => DATE.getTime(),
  Symbol: () => typeof SYMBOL,
  "symbol-keyed property": () => TAGGED[SYMBOL],
  "RegExp source and flags": () => `${STICKY.source}/${STICKY.flags}`,
  "RegExp lastIndex": () => STICKY.lastIndex,
  "class instance with a private field": () => PRIVATE.count(),
  "class instance with public fields": () => PLAIN.read(),
};

const describe = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

async function main(): Promise<void> {
  for (const [name, capture] of Object.entries(captures)) {
    const original = capture();
    const result = await revive(capture).then(
      ({ revived }) => {
        try {
          return { revived: (revived as unknown as () => unknown)() };
        } catch (error) {
          return { threw: describe(error) };
        }
      },
      (error: unknown) => ({ serializationThrew: describe(error) }),
    );
    process.stdout.write(`${JSON.stringify({ name, original, ...result })}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
