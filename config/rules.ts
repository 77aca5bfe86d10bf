// Cross-field configuration rules. Each rule names the keys it needs and runs only when
// all of them parsed, so one bad key does not hide the problems of the others.
import { RELAXABLE_RULES, RULES } from "../common/policy-catalog";
import { isAtOrBelow } from "./names";
import { broadcastOf, inPrefix, isLinkLocalIpv6, networkOf, parseCidr } from "./net";
import { MAILCOW_OLDEST_SUPPORTED, MAILCOW_RELEASES, type ConfigKey, type ParsedConfig } from "./schema";

export interface Problem {
  /** Config path such as ["lan", "gateway4"]; the first element is the `mailstack:` key. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

interface Rule<K extends ConfigKey> {
  readonly needs: readonly K[];
  readonly check: (config: Pick<ParsedConfig, K>) => Problem[];
}

function rule<K extends ConfigKey>(needs: readonly K[], check: (config: Pick<ParsedConfig, K>) => Problem[]): Rule<K> {
  return { needs, check };
}

/** Minimum VM memory for mailcow, from mailcow's system requirements. */
export const MIN_MEMORY_GIB = 6;
export const MIN_MEMORY_GIB_WITH_CLAMAV = 8;
export const MIN_DISK_GB = 40;
/** An enforced MTA-STS policy must outlive an attacker's window: at least a week (RFC 8461 §3.2). */
export const MIN_ENFORCE_MAX_AGE_SECONDS = 604_800;

/** The storages a Proxmox node is installed with; they exist on every node but are not shared. */
const NODE_LOCAL_STORAGES = new Set(["local", "local-lvm", "local-zfs"]);

const rules = [
  rule(["hostname", "domains"], ({ hostname, domains }) =>
    domains.some((domain) => domain.name === hostname)
      ? [
          {
            path: ["hostname"],
            message: `the mail host name must differ from every hosted mail domain (mailcow requires it); use a host such as mail.${hostname}`,
          },
        ]
      : [],
  ),
  // mailcow's update.sh stops to ask when MAILCOW_HOSTNAME has a single dot (mailcow-dockerized
  // 2026-07a update.sh:215-224), which would hang every upgrade the stack runs without a terminal.
  rule(["hostname"], ({ hostname }) =>
    hostname.split(".").length < 3
      ? [
          {
            path: ["hostname"],
            message: `mailcow needs a host name below the domain (such as mail.${hostname}); its update.sh refuses to run unattended for ${hostname}`,
          },
        ]
      : [],
  ),
  rule(["mailcow"], ({ mailcow }) => {
    if (mailcow.version < MAILCOW_OLDEST_SUPPORTED) {
      return [
        {
          path: ["mailcow", "version"],
          message: `mailcow ${mailcow.version} is older than ${MAILCOW_OLDEST_SUPPORTED}, the first release that enforces 2FA for admins and mailboxes (force_tfa); use ${MAILCOW_OLDEST_SUPPORTED} or later`,
        },
      ];
    }
    const known = MAILCOW_RELEASES[mailcow.version];
    if (known === undefined && mailcow.commit === undefined) {
      return [
        {
          path: ["mailcow", "commit"],
          message: `mailstack does not know mailcow ${mailcow.version} yet; set mailstack:mailcow.commit to the tag's commit (git ls-remote https://github.com/mailcow/mailcow-dockerized refs/tags/${mailcow.version}) after reading its release notes`,
        },
      ];
    }
    if (known !== undefined && mailcow.commit !== undefined && mailcow.commit !== known) {
      return [
        {
          path: ["mailcow", "commit"],
          message: `mailcow ${mailcow.version} is commit ${known}; remove mailstack:mailcow.commit or correct it`,
        },
      ];
    }
    return [];
  }),
  rule(["hostname", "hostZone", "domains"], ({ hostname, hostZone, domains }) => {
    if (hostZone === undefined) {
      return domains.some((domain) => isAtOrBelow(hostname, domain.name))
        ? []
        : [
            {
              path: ["hostZone"],
              message: `${hostname} is not inside any hosted domain (${domains.map((d) => d.name).join(", ")}); set mailstack:hostZone to {name, zoneId} of the Cloudflare zone that holds it`,
            },
          ];
    }
    const problems: Problem[] = [];
    if (!isAtOrBelow(hostname, hostZone.name)) {
      problems.push({
        path: ["hostZone", "name"],
        message: `the host ${hostname} is not inside the zone ${hostZone.name}`,
      });
    }
    const hosted = domains.find((domain) => domain.name === hostZone.name);
    if (hosted && hosted.zoneId !== hostZone.zoneId) {
      problems.push({
        path: ["hostZone", "zoneId"],
        message: `${hostZone.name} is also a hosted domain with zoneId ${hosted.zoneId}; use the same zone id`,
      });
    }
    return problems;
  }),
  rule(["domains"], ({ domains }) => {
    const problems: Problem[] = [];
    const seenNames = new Map<string, number>();
    const seenZones = new Map<string, number>();
    domains.forEach((domain, index) => {
      const earlier = seenNames.get(domain.name);
      if (earlier !== undefined) {
        problems.push({
          path: ["domains", index, "name"],
          message: `duplicate hosted domain ${domain.name} (also domains[${earlier}]); list each domain once`,
        });
      } else seenNames.set(domain.name, index);
      const zoneOwner = seenZones.get(domain.zoneId);
      if (zoneOwner !== undefined && domains[zoneOwner]?.name !== domain.name) {
        problems.push({
          path: ["domains", index, "zoneId"],
          message: `zone id already used by domains[${zoneOwner}]; every hosted domain is its own Cloudflare zone`,
        });
      } else seenZones.set(domain.zoneId, index);

      const localParts = new Map<string, number>();
      let quotaSum = 0;
      domain.mailboxes.forEach((box, boxIndex) => {
        const first = localParts.get(box.localPart);
        if (first !== undefined) {
          problems.push({
            path: ["domains", index, "mailboxes", boxIndex, "localPart"],
            message: `duplicate mailbox ${box.localPart}@${domain.name} (also mailboxes[${first}])`,
          });
        } else localParts.set(box.localPart, boxIndex);
        if (box.quotaMiB > domain.quotaMiB) {
          problems.push({
            path: ["domains", index, "mailboxes", boxIndex, "quotaMiB"],
            message: `${box.quotaMiB} MiB exceeds the domain quota of ${domain.quotaMiB} MiB; raise domains[${index}].quotaMiB or lower this quota`,
          });
        }
        quotaSum += box.quotaMiB;
      });
      if (domain.mailboxes.length > domain.maxMailboxes) {
        problems.push({
          path: ["domains", index, "maxMailboxes"],
          message: `${domain.mailboxes.length} mailboxes are declared but maxMailboxes is ${domain.maxMailboxes}; raise it`,
        });
      }
      if (quotaSum > domain.quotaMiB) {
        problems.push({
          path: ["domains", index, "quotaMiB"],
          message: `the mailbox quotas add up to ${quotaSum} MiB, more than the domain quota of ${domain.quotaMiB} MiB; mailcow would refuse the mailboxes`,
        });
      }
    });
    return problems;
  }),
  rule(["lan"], ({ lan }) => {
    const problems: Problem[] = [];
    const v4 = parseCidr(lan.ipv4, 4);
    if (v4) {
      if (v4.prefix > 30 || v4.prefix < 8) {
        problems.push({
          path: ["lan", "ipv4"],
          message: `a /${v4.prefix} LAN is not usable for a host and its gateway; use a prefix between /8 and /30`,
        });
      } else {
        const reserved = [networkOf(v4), broadcastOf(v4)];
        if (reserved.includes(v4.address)) {
          problems.push({
            path: ["lan", "ipv4"],
            message: `${v4.address} is the network or broadcast address of its /${v4.prefix}; use a host address`,
          });
        }
        if (!inPrefix(lan.gateway4, v4)) {
          problems.push({
            path: ["lan", "gateway4"],
            message: `the gateway ${lan.gateway4} is outside the VM's LAN ${networkOf(v4)}/${v4.prefix}`,
          });
        } else if (lan.gateway4 === v4.address || reserved.includes(lan.gateway4)) {
          problems.push({
            path: ["lan", "gateway4"],
            message: `the gateway ${lan.gateway4} must be another host of ${networkOf(v4)}/${v4.prefix}`,
          });
        }
      }
    }
    if (lan.ipv6 === undefined && lan.gateway6 !== undefined) {
      problems.push({
        path: ["lan", "gateway6"],
        message: "a gateway6 needs lan.ipv6 (the VM's LAN IPv6 address with prefix length)",
      });
    }
    if (lan.ipv6 !== undefined) {
      const v6 = parseCidr(lan.ipv6, 6);
      if (v6 && v6.prefix < 64) {
        problems.push({
          path: ["lan", "ipv6"],
          message: `a LAN segment is a /64 (or longer); /${v6.prefix} is a site prefix`,
        });
      }
      if (lan.gateway6 === undefined) {
        problems.push({
          path: ["lan", "gateway6"],
          message: "lan.ipv6 needs a gateway6 (the pfSense LAN address, e.g. fd03::1)",
        });
      } else if (v6 && !inPrefix(lan.gateway6, v6) && !isLinkLocalIpv6(lan.gateway6)) {
        problems.push({
          path: ["lan", "gateway6"],
          message: `the gateway ${lan.gateway6} is neither inside ${networkOf(v6)}/${v6.prefix} nor link-local`,
        });
      } else if (v6 && lan.gateway6 === v6.address) {
        problems.push({ path: ["lan", "gateway6"], message: "the gateway must be another host than the VM" });
      }
    }
    return problems;
  }),
  rule(["vm", "proxmox"], ({ vm, proxmox }) => {
    if (!vm.ha) return [];
    const problems: Problem[] = [];
    // Proxmox's default storages are node-local: HA could not start the VM on another node.
    for (const key of ["vmDatastore", "snippetDatastore"] as const) {
      if (NODE_LOCAL_STORAGES.has(proxmox[key])) {
        problems.push({
          path: ["proxmox", key],
          message: `"${proxmox[key]}" is node-local storage, so HA cannot start the VM on another node; name shared storage (Ceph, NFS, …) or drop vm.ha`,
        });
      }
    }
    if (!(proxmox.node in vm.ha.nodes)) {
      problems.push({
        path: ["vm", "ha", "nodes"],
        message: `the VM's node ${proxmox.node} is not in the HA group; add it with a priority`,
      });
    }
    return problems;
  }),
  rule(["vm", "mailcow"], ({ vm, mailcow }) => {
    const problems: Problem[] = [];
    const needed = mailcow.clamav ? MIN_MEMORY_GIB_WITH_CLAMAV : MIN_MEMORY_GIB;
    if (vm.memoryGiB < needed) {
      problems.push({
        path: ["vm", "memoryGiB"],
        message: mailcow.clamav
          ? `mailcow with ClamAV needs at least ${needed} GiB; raise vm.memoryGiB or set mailcow.clamav: false (then ${MIN_MEMORY_GIB} GiB)`
          : `mailcow needs at least ${needed} GiB`,
      });
    }
    if (vm.diskGb < MIN_DISK_GB) {
      problems.push({
        path: ["vm", "diskGb"],
        message: `mailcow needs at least ${MIN_DISK_GB} GB (images, mail, indexes, backups staging)`,
      });
    }
    return problems;
  }),
  rule(["admin"], ({ admin }) =>
    admin.sshCidrs.flatMap((text, index): Problem[] => {
      const cidr = parseCidr(text, 4) ?? parseCidr(text, 6);
      if (!cidr) return [];
      // The host firewall compares its rules by their text with what ufw lists, and ufw rewrites
      // an IPv4 network with host bits (render/scripts/firewall.sh): only the canonical form is taken.
      const canonical = `${networkOf(cidr)}/${cidr.prefix}`;
      if (text !== canonical)
        return [
          {
            path: ["admin", "sshCidrs", index],
            message: `${text} is not a network in canonical form; write ${canonical}`,
          },
        ];
      const tooWide = cidr.family === 4 ? cidr.prefix < 8 : cidr.prefix < 32;
      return tooWide
        ? [
            {
              path: ["admin", "sshCidrs", index],
              message: `${text} opens SSH to ${cidr.prefix === 0 ? "the whole internet" : "a large part of the internet"}; list the admin networks only (e.g. 10.3.0.0/24); policy ${RULES.sshSources.name}`,
            },
          ]
        : [];
    }),
  ),
  rule(["dns"], ({ dns }) =>
    dns.dane && !dns.dnssec
      ? [
          {
            path: ["dns", "dane"],
            message: "DANE (TLSA records) only works in a DNSSEC-signed zone; turn dns.dnssec on or dns.dane off",
          },
        ]
      : [],
  ),
  rule(["tlsKey"], ({ tlsKey }) =>
    tlsKey.next !== undefined && tlsKey.next === tlsKey.active
      ? [
          {
            path: ["tlsKey", "next"],
            message: `the next key must be the other slot than the active one ("${tlsKey.active === "a" ? "b" : "a"}")`,
          },
        ]
      : [],
  ),
  rule(["mtaSts"], ({ mtaSts }) =>
    mtaSts.mode === "enforce" && mtaSts.maxAgeSeconds < MIN_ENFORCE_MAX_AGE_SECONDS
      ? [
          {
            path: ["mtaSts", "maxAgeSeconds"],
            message: `an enforced MTA-STS policy needs max_age of at least ${MIN_ENFORCE_MAX_AGE_SECONDS} s (1 week; RFC 8461 §3.2 recommends weeks); raise it, or use mode "testing" while trying things out`,
          },
        ]
      : [],
  ),
  rule(["policy", "environment"], ({ policy, environment }) =>
    policy.advisory.flatMap((name, index): Problem[] => {
      if (environment === "production") {
        return [
          {
            path: ["policy", "advisory", index],
            message: `a production stack enforces every rule; remove it (lower rules only in a staging stack)`,
          },
        ];
      }
      return RELAXABLE_RULES.includes(name)
        ? []
        : [
            {
              path: ["policy", "advisory", index],
              message: `${name} guards something no environment may go without; only ${RELAXABLE_RULES.join(", ")} can be lowered`,
            },
          ];
    }),
  ),
  rule(
    ["verify", "hostname", "publicIpv4", "publicIpv6", "lan", "admin"],
    ({ verify, hostname, publicIpv4, publicIpv6, lan, admin }) => {
      if (!verify) return [];
      const host = verify.host.toLowerCase();
      const own = [hostname, publicIpv4, publicIpv6, lan.ipv4.split("/")[0], lan.ipv6?.split("/")[0]];
      if (own.some((value) => value !== undefined && value.toLowerCase() === host)) {
        return [
          {
            path: ["verify", "host"],
            message:
              "verify checks what the internet sees, so it cannot run on the mail host itself; name a monitoring or CI host outside it",
          },
        ];
      }
      const inside = [...admin.sshCidrs, lan.ipv4, ...(lan.ipv6 ? [lan.ipv6] : [])].find((cidr) => {
        const prefix = parseCidr(cidr, 4) ?? parseCidr(cidr, 6);
        return prefix !== undefined && inPrefix(host, prefix);
      });
      return inside
        ? [
            {
              path: ["verify", "host"],
              message: `${verify.host} is inside ${inside}: from there SSH and the LAN-only ports answer, so verify would report them open; use a host outside the admin and LAN networks`,
            },
          ]
        : [];
    },
  ),
] as readonly Rule<ConfigKey>[];

/**
 * Runs every cross-field rule none of whose keys failed to parse. `parsed` holds every key
 * that parsed (absent optional keys as undefined).
 */
export function crossFieldProblems(parsed: ParsedConfig, failed: ReadonlySet<ConfigKey>): Problem[] {
  return rules.flatMap((r) => (r.needs.some((key) => failed.has(key)) ? [] : r.check(parsed)));
}
