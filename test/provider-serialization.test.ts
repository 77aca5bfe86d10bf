// What survives Pulumi's closure serialization of a dynamic provider (@pulumi/pulumi 3.248.0,
// runtime/closure/createClosure.js getOrCreateEntryAsync and serializeClosure.js envEntryToString):
// functions, arrays, plain objects, RegExps (as `new RegExp(source, flags)`) and errors of classes
// with methods are rebuilt; any other object is rebuilt as a plain object carrying the properties
// the code reads (`has` from Set.prototype) without its internal slots, so a captured Set, Map or
// Date throws at its first use, a Symbol turns into an object, and a class instance with a private
// field does not load at all. The providers' serialized code must capture none of these.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runOk } from "./support/exec";
import { serializeProviders } from "./tools";

interface Capture {
  readonly name: string;
  readonly original: unknown;
  readonly revived?: unknown;
  readonly threw?: string;
  readonly serializationThrew?: string;
}

describe("Pulumi's closure serializer", () => {
  it("loses a captured Set, Map, Date, Symbol and private class state, keeps arrays, plain objects and RegExps", async () => {
    const root = join(__dirname, "..");
    const output = await runOk(
      process.execPath,
      ["--require", "tsx/cjs", join(root, "test", "support", "serialize-captures.ts")],
      { cwd: root },
    );
    const captures = new Map(
      output
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Capture)
        .map((capture) => [capture.name, capture]),
    );
    // Broken: the reason providers/*.ts keep no such value at module level.
    expect(captures.get("Set")?.threw).toMatch(/Set\.prototype\.has called on incompatible receiver/);
    expect(captures.get("Map")?.threw).toMatch(/Map\.prototype\.get called on incompatible receiver/);
    expect(captures.get("Date")?.threw).toMatch(/not a Date object/);
    expect(captures.get("Symbol")).toMatchObject({ original: "symbol", revived: "object" });
    expect(captures.get("symbol-keyed property")?.serializationThrew).toMatch(/Symbol/);
    expect(captures.get("class instance with a private field")?.serializationThrew).toMatch(/#count/);
    // A RegExp is rebuilt from source and flags: a /g one's lastIndex is not kept.
    expect(captures.get("RegExp lastIndex")).toMatchObject({ original: 5, revived: 0 });
    // What the providers use instead.
    for (const name of ["Array", "plain object", "RegExp source and flags", "class instance with public fields"]) {
      const capture = captures.get(name);
      expect(capture?.revived, name).toEqual(capture?.original);
    }
  });
});

describe("the providers' serialized code", () => {
  it("captures no built-in object whose state the serializer loses, and no class instance", async () => {
    const providers = (await serializeProviders({})).filter((result) => result.text !== "");
    expect(providers.map((result) => result.name).sort()).toEqual(
      [
        "mailcowProvider",
        "pfSenseProvider",
        "pfSenseRemoteSyslogProvider",
        "pfSenseUserProvider",
        "proxmoxProvider",
      ].sort(),
    );
    for (const { name, text } of providers) {
      // A captured Set/Map/Date/Symbol/URL/Buffer… borrows methods from its global prototype
      // (`value: global.Set.prototype.has`) or is made from it (`Object.create(global.Symbol.prototype)`);
      // the only global prototype allowed is Error's, which the provider error classes extend.
      const borrowed = [...text.matchAll(/global\.([A-Za-z0-9_$.]+?)\.prototype\b/g)].map((m) => m[1]);
      expect(
        borrowed.filter((global) => global !== "Error"),
        name,
      ).toEqual([]);
      // An instance of a class is an Object.create of the class's rebuilt prototype; only the
      // error classes' prototypes (made from Error.prototype) may be created that way.
      const created = [...text.matchAll(/Object\.create\(([^)]*)\)/g)].map((m) => m[1]);
      expect(
        created.filter((proto) => proto !== "global.Error.prototype"),
        name,
      ).toEqual([]);
    }
  });
});
