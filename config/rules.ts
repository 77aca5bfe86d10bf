// Cross-field configuration rules. Each rule names the keys it needs and runs only when
// all of them parsed, so one bad key does not hide the problems of the others.
import { isStagingStack, relaxableFor, RELAXABLE_RULES, RULES, STACK_RELAXATIONS } from "../common/policy-catalog";
import { LIMIT_TEXT, outside, tooWide } from "../common/cidr";
import { isAtOrBelow } from "./names";
import { broadcastOf, inPrefix, isLinkLocalIpv6, networkOf, parseCidr, parseIpv4 } from "./net";
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
/** The installer's node-local storages that are not ZFS (a directory and LVM-thin). */
const NON_ZFS_LOCAL_STORAGES = new Set(["local", "local-lvm"]);

const rules = [
  rule(["domains", "capacity"], ({ domains, capacity }) => {
    const problems: Problem[] = [];
    const split = `the limit this stack is measured to plan within (README "Scale"); split the domains across stacks, one mail host each, or raise mailstack:capacity`;
    if (domains.length > capacity.domains)
      problems.push({
        path: ["domains"],
        message: `${domains.length} hosted domains are declared, at most ${capacity.domains} per stack (mailstack:capacity.domains): ${split}`,
      });
    const total = domains.reduce((sum, domain) => sum + domain.mailboxes.length, 0);
    if (total > capacity.mailboxes)
      problems.push({
        path: ["domains"],
        message: `${total} mailboxes are declared, at most ${capacity.mailboxes} per stack (mailstack:capacity.mailboxes): ${split}`,
      });
    return problems;
  }),
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
              message: `${hostname} is not inside any hosted domain (${
                domains.length > 5
                  ? `${domains
                      .slice(0, 5)
                      .map((d) => d.name)
                      .join(", ")}, … ${domains.length - 5} more`
                  : domains.map((d) => d.name).join(", ")
              }); set mailstack:hostZone to {name, zoneId} of the Cloudflare zone that holds it`,
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
    const replication = vm.ha.replication;
    // Proxmox's default storages are node-local: HA could not start the VM on another node. The
    // snippets must be shared even with replication: PVE regenerates the cloud-init drive from
    // them at every start but a live migration's (qemu-server 9.2.6 src/PVE/QemuServer.pm
    // vm_start_nolock, Cloudinit.pm generate_cloudinit_config and read_cloudinit_snippets_file).
    if (NODE_LOCAL_STORAGES.has(proxmox.snippetDatastore)) {
      problems.push({
        path: ["proxmox", "snippetDatastore"],
        message: `"${proxmox.snippetDatastore}" is node-local storage, so HA cannot start the VM on another node (PVE reads the cloud-init snippets at every start); name shared storage with the content type snippets (CephFS, NFS, …) or drop vm.ha`,
      });
    }
    if (!replication && NODE_LOCAL_STORAGES.has(proxmox.vmDatastore)) {
      problems.push({
        path: ["proxmox", "vmDatastore"],
        message: `"${proxmox.vmDatastore}" is node-local storage, so HA cannot start the VM on another node; name shared storage (Ceph RBD, NFS, …), set vm.ha.replication (ZFS storage), or drop vm.ha`,
      });
    }
    // Only ZFS pool storage replicates (pve-storage 0c56bad src/PVE/Storage/ZFSPoolPlugin.pm
    // storage_can_replicate; every other plugin inherits Plugin.pm's 0).
    if (replication && NON_ZFS_LOCAL_STORAGES.has(proxmox.vmDatastore)) {
      problems.push({
        path: ["proxmox", "vmDatastore"],
        message: `"${proxmox.vmDatastore}" is not ZFS storage, and PVE replicates only ZFS pool storage; set proxmox.vmDatastore to a ZFS storage present on both nodes (e.g. local-zfs) or drop vm.ha.replication`,
      });
    }
    if (replication && replication.target === proxmox.node) {
      problems.push({
        path: ["vm", "ha", "replication", "target"],
        message: `the VM runs on ${proxmox.node}; replicate to another node of vm.ha.nodes`,
      });
    } else if (replication && !(replication.target in vm.ha.nodes)) {
      problems.push({
        path: ["vm", "ha", "replication", "target"],
        message: `HA may not start the VM on ${replication.target}, the replication target: add it to vm.ha.nodes with a priority`,
      });
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
  // Allow-lists are judged as a whole: 0.0.0.0/1 + 128.0.0.0/1, or 223 /8s, are the internet too.
  rule(["admin"], ({ admin }) =>
    admin.sshCidrs.flatMap((text, index): Problem[] => {
      const cidr = parseCidr(text, 4) ?? parseCidr(text, 6);
      if (!cidr) return [];
      // The host firewall compares its rules by their text with what ufw lists, and ufw rewrites
      // an IPv4 network with host bits (render/scripts/firewall.sh): only the canonical form is taken.
      const canonical = `${networkOf(cidr)}/${cidr.prefix}`;
      return text === canonical
        ? []
        : [
            {
              path: ["admin", "sshCidrs", index],
              message: `${text} is not a network in canonical form; write ${canonical}`,
            },
          ];
    }),
  ),
  rule(["admin"], ({ admin }) =>
    tooWide(admin.sshCidrs).map(({ family, size }): Problem => ({
      path: ["admin", "sshCidrs"],
      message: `together these open SSH to ${size} of public IPv${family}; an admin allow-list is ${LIMIT_TEXT}: list the admin networks only (e.g. 10.3.0.0/24); policy ${RULES.sshSources.name}`,
    })),
  ),
  rule(["mailcow", "admin"], ({ mailcow, admin }) => {
    const allowFrom = mailcow.apiAllowFrom;
    if (allowFrom === undefined) return [];
    const wide = tooWide(allowFrom).map(({ family, size }): Problem => ({
      path: ["mailcow", "apiAllowFrom"],
      message: `together these let ${size} of public IPv${family} use mailcow's API on port 443; an allow-list is ${LIMIT_TEXT}: list the admin networks only; policy ${RULES.adminPorts.name}`,
    }));
    const strays = outside(allowFrom, admin.sshCidrs).map((entry): Problem => {
      const index = allowFrom.indexOf(entry);
      return {
        path: ["mailcow", "apiAllowFrom", index],
        message: `${entry} is not inside the admin networks (mailstack:admin.sshCidrs: ${admin.sshCidrs.join(", ")}); the mailcow API is for the admins and the stack only: remove it or add that network to admin.sshCidrs`,
      };
    });
    return [...wide, ...strays];
  }),
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
  rule(["logging"], ({ logging }) => {
    const problems: Problem[] = [];
    if (logging.forward && logging.localOnly) {
      problems.push({
        path: ["logging", "localOnly"],
        message: "logs are either forwarded or kept local only: remove logging.localOnly or logging.forward",
      });
    }
    if (logging.pfsense === true && !logging.forward) {
      problems.push({
        path: ["logging", "pfsense"],
        message:
          "pfSense's firewall log is forwarded through the mail host's log forwarding: set logging.forward, or remove logging.pfsense",
      });
    }
    const { days, legalMinDays, legalMaxDays } = logging.retention;
    if (legalMinDays > legalMaxDays) {
      problems.push({
        path: ["logging", "retention", "legalMinDays"],
        message: `the retention policy's minimum (${legalMinDays} days) exceeds its maximum (${legalMaxDays} days); correct one of them`,
      });
    } else if (days < legalMinDays || days > legalMaxDays) {
      problems.push({
        path: ["logging", "retention", "days"],
        message: `${days} days lies outside the retention policy's bounds (${legalMinDays} to ${legalMaxDays} days, logging.retention.legalMinDays/legalMaxDays); choose a value within them (policy ${RULES.logRetention.name})`,
      });
    }
    return problems;
  }),
  rule(["updates", "backup"], ({ updates, backup }) =>
    updates.mailcow === "upgrade" && !backup.offsite
      ? [
          {
            path: ["updates", "mailcow"],
            message:
              'an unattended mailcow upgrade needs a fresh off-site backup first: configure mailstack:backup.offsite, or use "notify"',
          },
        ]
      : [],
  ),
  rule(["pfsense", "backup"], ({ pfsense, backup }) =>
    pfsense.configBackup && !backup.offsite
      ? [
          {
            path: ["pfsense", "configBackup"],
            message:
              "the pfSense configuration goes into the off-site repository: configure mailstack:backup.offsite, or remove pfsense.configBackup",
          },
        ]
      : [],
  ),
  // A reboot never interrupts a backup (the host also checks the backup lock before it reboots):
  // a daily backup must not start inside the maintenance window.
  rule(["updates", "backup", "pfsense"], ({ updates, backup, pfsense }) => {
    const minutes = (time: string) => {
      const [h = "0", m = "0"] = time.split(":");
      return Number(h) * 60 + Number(m);
    };
    const start = minutes(updates.window.start);
    const inWindow = (minute: number) => (minute - start + 1440) % 1440 < updates.window.durationMinutes;
    const daily = (calendar: string) => /^(\*-\*-\*\s+)?([01][0-9]|2[0-3]):([0-5][0-9])(:00)?$/.exec(calendar.trim());
    const schedules: [readonly (string | number)[], string | undefined][] = [
      [["backup", "schedule"], backup.pbs ? backup.schedule : undefined],
      [["backup", "offsite", "schedule"], backup.offsite?.schedule],
      [["pfsense", "configBackup", "schedule"], pfsense.configBackup?.schedule],
    ];
    return schedules.flatMap(([path, calendar]): Problem[] => {
      const match = calendar === undefined ? null : daily(calendar);
      if (!match) return [];
      const at = Number(match[2]) * 60 + Number(match[3]);
      return inWindow(at)
        ? [
            {
              path,
              message: `the backup at ${match[2]}:${match[3]} starts inside the maintenance window (updates.window ${updates.window.start} for ${updates.window.durationMinutes} minutes), when the host may reboot; move one of them`,
            },
          ]
        : [];
    });
  }),
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

/** The ranges a network that scrapes the exporters may come from: private IPv4 (RFC 1918, CGNAT). */
const SCRAPE_RANGES = new Set(["private", "carrierGradeNat"]);

const monitoringRules = [
  rule(["monitoring"], ({ monitoring }) =>
    monitoring.scrapeCidrs.flatMap((text, index): Problem[] => {
      const cidr = parseCidr(text, 4);
      const range = cidr ? parseIpv4(cidr.address)?.range() : undefined;
      if (!cidr || (range !== undefined && SCRAPE_RANGES.has(range) && cidr.prefix >= 8)) return [];
      return [
        {
          path: ["monitoring", "scrapeCidrs", index],
          message: `${text} is not a private network: the exporters answer only private IPv4 networks (RFC 1918 or 100.64.0.0/10), never the internet; give the network Prometheus scrapes from, or use remoteWrite to reach a hosted backend; policy ${RULES.exporterSources.name}`,
        },
      ];
    }),
  ),
  rule(["monitoring", "pfsense"], ({ monitoring, pfsense }) =>
    monitoring.pfsenseInterface === pfsense.wanInterface
      ? [
          {
            path: ["monitoring", "pfsenseInterface"],
            message: `"${pfsense.wanInterface}" is the WAN interface: the exporters must never be reachable from the internet; give the pfSense interface of the monitoring network (the LAN by default); policy ${RULES.exporterSources.name}`,
          },
        ]
      : [],
  ),
  rule(["monitoring"], ({ monitoring }) =>
    monitoring.smtp.passwordFile !== undefined && monitoring.smtp.username === undefined
      ? [
          {
            path: ["monitoring", "smtp", "username"],
            message: "smtp.passwordFile needs smtp.username (the SMTP login)",
          },
        ]
      : [],
  ),
  rule(["monitoring"], ({ monitoring }) => {
    const metrics = monitoring.proxmoxMetrics;
    if (!metrics?.protocol) return [];
    const allowed = { influxdb: ["udp", "http", "https"], graphite: ["udp", "tcp"], opentelemetry: ["http", "https"] }[
      metrics.type
    ];
    return allowed.includes(metrics.protocol)
      ? []
      : [
          {
            path: ["monitoring", "proxmoxMetrics", "protocol"],
            message: `a ${metrics.type} metric server speaks ${allowed.join(" or ")}, not ${metrics.protocol}`,
          },
        ];
  }),
] as readonly Rule<ConfigKey>[];

/**
 * Runs every cross-field rule none of whose keys failed to parse. `parsed` holds every key
 * that parsed (absent optional keys as undefined).
 */
export function crossFieldProblems(parsed: ParsedConfig, failed: ReadonlySet<ConfigKey>): Problem[] {
  return [...rules, ...monitoringRules].flatMap((r) => (r.needs.some((key) => failed.has(key)) ? [] : r.check(parsed)));
}

/**
 * The checks bound to the stack's name, not to what the stack file says about itself: whether the
 * stack is staging and what it may lower are the pack's to decide (common/policy-catalog.ts
 * STACK_RELAXATIONS), so `environment: staging` in Pulumi.prod.yaml relaxes nothing.
 */
export const STACK_BOUND_KEYS = ["environment", "policy", "domains", "dmarc", "backup", "services"] as const;

export function stackProblems(config: Pick<ParsedConfig, (typeof STACK_BOUND_KEYS)[number]>, stack: string): Problem[] {
  const problems: Problem[] = [];
  const staging = isStagingStack(stack);
  if (!staging) problems.push(...productionProblems(config));
  // In any stack: the backup client must not be able to delete the backups.
  const pbs = config.backup.pbs;
  if (pbs && /^root@pam(!|$)/i.test(pbs.username))
    problems.push({
      path: ["backup", "pbs", "username"],
      message: `root@pam can delete every backup on the PBS; use a user (or its API token) with DatastoreBackup on the namespace only, such as mailstack@pbs`,
    });
  if (config.environment === "staging" && !staging) {
    problems.push({
      path: ["environment"],
      message: `the stack "${stack}" is production to the policy pack (common/policy-catalog.ts STACK_RELAXATIONS lists the staging stacks: ${Object.keys(STACK_RELAXATIONS).join(", ")}); remove mailstack:environment, or add the stack there in a reviewed change to common/policy-catalog.ts`,
    });
  }
  const allowed = relaxableFor(stack);
  config.policy.advisory.forEach((name, index) => {
    if (allowed.includes(name)) return;
    problems.push({
      path: ["policy", "advisory", index],
      message: !staging
        ? `the stack "${stack}" enforces every rule (it is not a staging stack in common/policy-catalog.ts STACK_RELAXATIONS); remove ${name}`
        : RELAXABLE_RULES.includes(name)
          ? `the pack does not let the stack "${stack}" lower ${name} (common/policy-catalog.ts STACK_RELAXATIONS allows ${allowed.join(", ")}); remove it`
          : `${name} guards something no environment may go without; only ${allowed.join(", ")} can be lowered in "${stack}"`,
    });
  });
  return problems;
}

/**
 * Whether a systemd calendar expression fires every day: `daily`/`hourly`, or
 * `[Mon..Sun] *-*-* <time> [timezone]` (a date part other than `*-*-*`, or fewer weekdays, skips days).
 */
function atLeastDaily(schedule: string): boolean {
  const parts = schedule.trim().toLowerCase().split(/\s+/);
  if (parts.length === 1 && ["daily", "hourly", "minutely"].includes(parts[0] ?? "")) return true;
  if (parts.length > 1 && /\/|^utc$/.test(parts.at(-1) ?? "")) parts.pop();
  if (/^[a-z]/.test(parts[0] ?? "")) {
    if (!["mon..sun", "mon-sun", "mon..sun,"].includes(parts.shift() ?? "")) return false;
  }
  if (parts.length === 1) return /^[0-9*,/:.]+$/.test(parts[0] ?? "") && !(parts[0] ?? "").includes("-");
  return parts.length === 2 && parts[0] === "*-*-*";
}

/** What a production stack (any stack the pack does not list as staging) may not turn off. */
function productionProblems(config: Pick<ParsedConfig, (typeof STACK_BOUND_KEYS)[number]>): Problem[] {
  const problems: Problem[] = [];
  const why = "(a production stack; only the stacks in common/policy-catalog.ts STACK_RELAXATIONS may)";
  config.domains.forEach((domain, d) =>
    domain.mailboxes.forEach((mailbox, m) => {
      if (!mailbox.forcePasswordUpdate)
        problems.push({
          path: ["domains", d, "mailboxes", m, "forcePasswordUpdate"],
          message: `the mailbox keeps the password the stack generated; remove forcePasswordUpdate: false ${why}`,
        });
    }),
  );
  if (config.dmarc.rua?.length === 0)
    problems.push({
      path: ["dmarc", "rua"],
      message: `an empty list asks for no DMARC aggregate reports, so nobody sees spoofing or broken DKIM; remove it (the default is dmarc-reports@<domain>) or list a mailto: address ${why}`,
    });
  for (const service of ["imap", "pop3", "sieve"] as const)
    if (config.services[service])
      problems.push({
        path: ["services", service],
        message: `opens plain ${service.toUpperCase()} (STARTTLS optional, passwords readable) to the internet; use ${service === "sieve" ? "SOGo's filter editor" : service === "imap" ? "IMAPS (993)" : "POP3S (995)"} and remove it ${why}`,
      });
  const retentions: [readonly (string | number)[], ParsedConfig["backup"]["retention"]][] = [
    [["backup", "retention"], config.backup.retention],
  ];
  const offsite = config.backup.offsite;
  if (offsite) {
    retentions.push([["backup", "offsite", "retention"], offsite.retention]);
    if (!atLeastDaily(offsite.schedule))
      problems.push({
        path: ["backup", "offsite", "schedule"],
        message: `"${offsite.schedule}" runs less than daily, so a lost host loses more than a day of mail; use a daily schedule such as "*-*-* 03:30" ${why}`,
      });
    if (offsite.maxAgeHours > 48)
      problems.push({
        path: ["backup", "offsite", "maxAgeHours"],
        message: `a daily backup that is ${offsite.maxAgeHours} hours old has failed for days before anyone is told; use at most 48 (default 26) ${why}`,
      });
  }
  for (const [path, retention] of retentions) {
    if (retention.daily < 7)
      problems.push({
        path: [...path, "daily"],
        message: `${retention.daily} daily snapshot(s) leave no way back past a bad night; keep at least 7 ${why}`,
      });
    if (retention.weekly + retention.monthly + retention.yearly === 0)
      problems.push({
        path,
        message: `keeps daily snapshots only, so damage noticed after a week cannot be undone; keep weekly or monthly snapshots too (defaults 4 and 6) ${why}`,
      });
  }
  return problems;
}
