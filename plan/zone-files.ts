// dns/<zone>.zone for every zone of the stack: the records mailstack manages there, read back from
// the custom resources the Cloudflare provider receives (so the file shows exactly what `pulumi up`
// does) into DnsRecords (render/cloudflare.ts recordFromCloudflareArgs), which the zone file writes. The zones and their name servers come from the stack output `zones` (outputs.ts), never
// from a component's inputs: the SDK may not send those (PULUMI_NODEJS_SKIP_COMPONENT_INPUTS).
import { recordFromCloudflareArgs, type CloudflareRecordArgs } from "../render/cloudflare";
import type { DnsRecord } from "../render/dns-record";
import { zoneFile } from "../render/zonefile";
import { TYPES } from "../common/resource-types";
import { redact, type ProgramRun } from "./engine";
import type { PlanFile } from "./write";

interface ZoneOutput {
  readonly zoneId?: unknown;
  readonly nameServers?: unknown;
}

/** The zone files of a plan; fails naming the record when it is in a zone the outputs do not list. */
export function zoneFiles(run: ProgramRun, stack: string): PlanFile[] {
  const outputs = redact(run.outputs) as { zones?: Record<string, ZoneOutput> };
  const zones = Object.entries(outputs.zones ?? {}).map(([name, zone]) => ({
    name,
    zoneId: typeof zone.zoneId === "string" ? zone.zoneId : "",
    nameServers: Array.isArray(zone.nameServers) ? zone.nameServers.map(String) : undefined,
  }));
  // One pass over the resources, each redacted once, grouped by type and zone (in plan order).
  const byZone = new Map<string, unknown[]>();
  const ofZone = (type: string, zoneId: string) => byZone.get(`${type} ${zoneId}`) ?? [];
  const listed = new Set(zones.map((zone) => zone.zoneId));
  const zoned = new Set<string>([TYPES.dnsRecord, TYPES.workersCustomDomain, TYPES.zoneDnssec]);
  for (const resource of run.resources) {
    if (!zoned.has(resource.type)) continue;
    const inputs = redact(resource.inputs) as { zoneId?: unknown };
    const zoneId = inputs.zoneId;
    if (resource.type === TYPES.dnsRecord && (typeof zoneId !== "string" || !listed.has(zoneId)))
      throw new Error(
        `the DNS record ${resource.urn} is in zone ${JSON.stringify(zoneId)}, which the stack output "zones" does not list: the zone files need every zone in that output (index.ts)`,
      );
    if (typeof zoneId !== "string") continue;
    const key = `${resource.type} ${zoneId}`;
    const group = byZone.get(key);
    if (group) group.push(inputs);
    else byZone.set(key, [inputs]);
  }
  return zones.map((zone) => {
    const records = (ofZone(TYPES.dnsRecord, zone.zoneId) as CloudflareRecordArgs[]).map(recordFromCloudflareArgs);
    const workers = (ofZone(TYPES.workersCustomDomain, zone.zoneId) as { hostname: string }[]).map(
      (inputs) => inputs.hostname,
    );
    const signed = ofZone(TYPES.zoneDnssec, zone.zoneId).length > 0;
    const header = [
      `Zone ${zone.name}: the records mailstack manages (stack "${stack}", offline plan).`,
      signed
        ? "DNSSEC: Cloudflare signs the zone; give the registrar the DS record (stack output zones.<zone>.ds)."
        : "DNSSEC: off for this zone.",
      ...workers.map(
        (host) =>
          `${host} is served by a Cloudflare Worker custom domain (HTTPS; Cloudflare manages its address records).`,
      ),
      'Values shown as "[unknown]" are only known after `pulumi up`; key material is a preview.',
    ];
    return {
      path: `dns/${zone.name}.zone`,
      content: zoneFile({
        zone: zone.name,
        records,
        header,
        defaultTtl: usualTtl(records),
        ...(zone.nameServers ? { nameServers: zone.nameServers } : {}),
      }),
    };
  });
}

/** The TTL most records of the zone have (the stack gives them all mailstack:dns.ttl); 1 is Cloudflare's 300 s. */
function usualTtl(records: readonly DnsRecord[]): number {
  const counts = new Map<number, number>();
  for (const record of records) counts.set(record.ttl, (counts.get(record.ttl) ?? 0) + 1);
  const [ttl = 3600] = [...counts].sort(([a, n], [b, m]) => m - n || a - b).map(([value]) => value);
  return ttl === 1 ? 300 : ttl;
}
