// The zone files of a plan: every zone gets its own records, and building them reads each
// resource once however many zones the stack has (no step that grows with zones × records).
import { describe, expect, it } from "vitest";
import { TYPES } from "../common/resource-types";
import type { ProgramRun, RecordedResource } from "../plan/engine";
import { zoneFiles } from "../plan/zone-files";

/** A run with `zones` zones of two TXT records each; counts how often each resource's inputs are read. */
function runWithZones(zones: number): { run: ProgramRun; reads: Map<string, number> } {
  const reads = new Map<string, number>();
  const resources: RecordedResource[] = [];
  const outputs: Record<string, { zoneId: string }> = {};
  for (let z = 0; z < zones; z++) {
    const zone = `z${z}.example`;
    const zoneId = `id${z}`;
    outputs[zone] = { zoneId };
    for (const [index, content] of ["v=spf1 -all", "v=DMARC1; p=reject"].entries()) {
      const urn = `urn:pulumi:test::mailstack::${TYPES.dnsRecord}::${zone}-${index}`;
      const inputs = { zoneId, name: `r${index}.${zone}`, type: "TXT", ttl: 3600, comment: "c", content };
      const resource = {
        urn,
        type: TYPES.dnsRecord,
        name: `${zone}-${index}`,
        custom: true,
        dependencies: [],
        propertyDependencies: {},
        options: {},
        generated: false,
      };
      Object.defineProperty(resource, "inputs", {
        enumerable: true,
        get: () => {
          reads.set(urn, (reads.get(urn) ?? 0) + 1);
          return inputs;
        },
      });
      resources.push(resource as unknown as RecordedResource);
    }
  }
  return { run: { resources, outputs: { zones: outputs } }, reads };
}

describe("zone files", () => {
  it("gives each zone exactly its own records", () => {
    const { run } = runWithZones(3);
    const files = zoneFiles(run, "test");
    expect(files.map((f) => f.path)).toEqual(["dns/z0.example.zone", "dns/z1.example.zone", "dns/z2.example.zone"]);
    for (const [z, file] of files.entries()) {
      expect(file.content).toContain(`r0.z${z}.example.`);
      expect(file.content).toContain(`r1.z${z}.example.`);
      expect(file.content.match(/ IN TXT /g)).toHaveLength(2);
    }
  });

  it("reads every record once, whatever the number of zones", () => {
    for (const zones of [1, 50]) {
      const { run, reads } = runWithZones(zones);
      zoneFiles(run, "test");
      expect(reads.size).toBe(2 * zones);
      expect(new Set(reads.values())).toEqual(new Set([1]));
    }
  });
});
