// Which Cloudflare zones mailstack manages and what goes into each (pure): one zone per hosted
// mail domain, plus the host's zone when that is not a hosted domain.
import type { MailstackConfig } from "../config/load";
import { isAtOrBelow } from "../config/names";
import type { MailDomainSettings } from "./dns";

export interface ZonePlan {
  readonly zone: { readonly name: string; readonly zoneId: string; readonly nameServers?: readonly string[] };
  /** The zone holds the mail host's A/AAAA/TLSA records. */
  readonly holdsHost: boolean;
  /** Mail records for the zone apex, when it is a hosted domain. */
  readonly mail?: MailDomainSettings;
  /** `<forDomain>._report._dmarc.<reportDomain>` authorisations this zone publishes. */
  readonly dmarcReportAuthorizations: readonly { readonly forDomain: string; readonly reportDomain: string }[];
}

function addressDomain(uri: string): string {
  return uri.slice(uri.lastIndexOf("@") + 1);
}

export function mailZones(config: MailstackConfig): ZonePlan[] {
  const zones: ZonePlan["zone"][] = config.domains.map((d) => ({
    name: d.name,
    zoneId: d.zoneId,
    ...(d.nameServers ? { nameServers: d.nameServers } : {}),
  }));
  if (!zones.some((zone) => zone.name === config.hostZone.name)) {
    const { name, zoneId, nameServers } = config.hostZone;
    zones.push({ name, zoneId, ...(nameServers ? { nameServers } : {}) });
  }
  const zoneOf = (name: string) =>
    zones.filter((zone) => isAtOrBelow(name, zone.name)).sort((a, b) => b.name.length - a.name.length)[0];

  // External DMARC report destinations that are themselves managed here get their authorisation.
  const authorizations = new Map<string, { forDomain: string; reportDomain: string }[]>();
  for (const domain of config.domains) {
    for (const reportDomain of new Set([...config.dmarc.rua, ...config.dmarc.ruf].map(addressDomain))) {
      const target = zoneOf(reportDomain);
      if (reportDomain === domain.name || !target) continue;
      const list = authorizations.get(target.name) ?? [];
      list.push({ forDomain: domain.name, reportDomain });
      authorizations.set(target.name, list);
    }
  }

  return zones.map((zone) => {
    const hosted = config.domains.some((d) => d.name === zone.name);
    return {
      zone,
      holdsHost: zone.name === config.hostZone.name,
      ...(hosted
        ? {
            mail: {
              dkimSelector: config.dns.dkimSelector,
              dmarc: config.dmarc,
              mtaSts: { mode: config.mtaSts.mode, mx: [config.hostname], maxAgeSeconds: config.mtaSts.maxAgeSeconds },
              tlsRptRua: config.tlsRpt.rua,
              services: config.services,
              groupware: config.mailcow.sogo,
            },
          }
        : {}),
      dmarcReportAuthorizations: authorizations.get(zone.name) ?? [],
    };
  });
}
