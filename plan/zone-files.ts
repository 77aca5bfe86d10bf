// dns/<zone>.zone for every MailDnsZone in a plan: the records the stack manages there,
// read back from what the program declared (so the file shows exactly what `pulumi up` does).
import type { CloudflareRecordArgs } from "../render/cloudflare";
import { zoneFile } from "../render/zonefile";
import { TYPES } from "../common/resource-types";
import { redact, type ProgramRun, type RecordedResource } from "./engine";
import type { PlanFile } from "./write";

interface ZoneInputs {
  zone: { name: string; nameServers?: string[] };
  ttl: number;
}

export function zoneFiles(run: ProgramRun, stack: string): PlanFile[] {
  const childrenOf = (parent: RecordedResource, type: string) =>
    run.resources.filter((r) => r.parent === parent.urn && r.type === type);
  return run.resources
    .filter((resource) => resource.type === TYPES.mailDnsZone)
    .map((component) => {
      const inputs = redact(component.inputs) as ZoneInputs;
      const records = childrenOf(component, TYPES.dnsRecord).map((r) => redact(r.inputs) as CloudflareRecordArgs);
      const workers = childrenOf(component, TYPES.workersCustomDomain).map(
        (r) => (redact(r.inputs) as { hostname: string }).hostname,
      );
      const signed = childrenOf(component, TYPES.zoneDnssec).length > 0;
      const header = [
        `Zone ${inputs.zone.name}: the records mailstack manages (stack "${stack}", offline plan).`,
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
        path: `dns/${inputs.zone.name}.zone`,
        content: zoneFile({
          zone: inputs.zone.name,
          records,
          header,
          defaultTtl: inputs.ttl === 1 ? 300 : inputs.ttl,
          ...(inputs.zone.nameServers ? { nameServers: inputs.zone.nameServers } : {}),
        }),
      };
    });
}
