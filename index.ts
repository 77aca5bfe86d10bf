// mailstack: Mailcow on Proxmox VE behind pfSense, DNS on Cloudflare, as one Pulumi program.
// The entry point reads and validates the configuration once, composes the components and
// returns the typed stack outputs. Components receive plain, validated values.
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { BackupJob } from "./components/backup-job";
import { MailDnsZone, mailDnsZoneArgs } from "./components/mail-dns-zone";
import { MailcowVm } from "./components/mailcow-vm";
import { MailcowTenants } from "./components/mailcow-tenants";
import { Monitoring } from "./components/monitoring";
import { PfSenseConfigBackup } from "./components/pfsense-config-backup";
import { PfSenseRules } from "./components/pfsense-rules";
import { ProxmoxAccess } from "./components/proxmox-access";
import { VerifySchedule } from "./components/verify-schedule";
import { dkimKey, mailTlsKeys } from "./components/keys";
import { afterBatch } from "./common/settle";
import { clusterPrefix } from "./config/load";
import { readConfig } from "./config/pulumi";
import type { BackupOutputs, DeepInput, HostedDomainOutputs, StackOutputs, ZoneDelegationOutputs } from "./outputs";
import { mailZones } from "./render/dns-zones";
import { firewallPlan } from "./render/firewall-plan";
import { publicPorts, serviceEndpoints } from "./render/endpoints";
import { BIN_DIR } from "./render/backup";
import { PFSENSE_SYSLOG_PORT } from "./render/logging";
import { MAILCOW_REPOSITORY } from "./render/host-scripts";
import { monitoringSetup } from "./render/monitoring-plan";
import { clusterNames } from "./render/proxmox";
import { verifyBundle } from "./verify/bundle";
import { VERIFIED_OUTPUTS } from "./verify/outputs";

async function mailstack(): Promise<DeepInput<StackOutputs>> {
  const { config, secrets } = readConfig();
  const endpoints = serviceEndpoints(config);
  const host = config.hostname;
  const monitoring = monitoringSetup(config, endpoints);

  const cloudflareProvider = new cloudflare.Provider("cloudflare", { apiToken: secrets.cloudflareApiToken });
  const nodeSshAddress = config.proxmox.sshAddress ?? new URL(config.proxmox.endpoint).hostname;
  const proxmoxProvider = new proxmox.Provider("proxmox", {
    endpoint: config.proxmox.endpoint,
    apiToken: secrets.proxmoxApiToken,
    insecure: false,
    minTls: "1.2",
    ssh: {
      username: config.proxmox.sshUser,
      privateKey: secrets.proxmoxSshPrivateKey,
      nodes: [{ name: config.proxmox.node, address: nodeSshAddress }],
    },
  });
  const tlsKeys = mailTlsKeys(config.tlsKey);
  const names = clusterNames(clusterPrefix(config.stack), config.vm.name, config.vm.image.url);
  const node = { sshAddress: nodeSshAddress, sshUser: config.proxmox.sshUser, sshHostKey: config.proxmox.sshHostKey };
  new ProxmoxAccess("proxmox-access", {
    node,
    sshPrivateKey: secrets.proxmoxSshPrivateKey ?? "",
    adminRealm: config.proxmox.adminRealm,
    realmTfa: config.proxmox.realmTfa,
  });

  // pfSense's firewall log, received on the mail host's LAN address and forwarded with its journal.
  const lanIpv4 = config.lan.ipv4.split("/")[0] ?? "";
  const pfsenseLogs =
    config.logging.forward && config.logging.pfsense !== false
      ? { listen: lanIpv4, port: PFSENSE_SYSLOG_PORT, source: config.lan.gateway4 }
      : undefined;
  const mailcow = new MailcowVm(
    "mailcow",
    {
      environment: config.environment,
      hostname: host,
      timezone: config.timezone,
      tlsMinVersion: config.tlsMinVersion,
      node: { name: config.proxmox.node, ...node },
      datastores: {
        vm: config.proxmox.vmDatastore,
        image: config.proxmox.imageDatastore,
        snippets: config.proxmox.snippetDatastore,
      },
      names,
      vm: config.vm,
      network: {
        bridge: config.lan.bridge,
        ...(config.lan.vlanId ? { vlanId: config.lan.vlanId } : {}),
        addresses: [
          config.lan.ipv4,
          ...(config.lan.ipv6 ? [config.lan.ipv6] : []),
          `${config.publicIpv6}/${config.lan.publicIpv6PrefixLength}`,
        ],
        gateway4: config.lan.gateway4,
        ...(config.lan.gateway6 ? { gateway6: config.lan.gateway6 } : {}),
        resolvers: config.lan.resolvers,
        searchDomain: config.hostZone.name,
      },
      admin: {
        username: config.admin.username,
        email: config.admin.email,
        sshKeys: config.admin.sshKeys,
        networks: config.admin.sshCidrs,
      },
      publicPorts: publicPorts(endpoints),
      httpsEarlySources: [...new Set([...config.admin.sshCidrs, ...config.mailcow.apiAllowFrom])],
      mailcow: {
        version: config.mailcow.version,
        commit: config.mailcow.commit,
        repository: MAILCOW_REPOSITORY,
        limits: config.mailcow.limits,
        domains: config.domains.map((domain) => domain.name),
        conf: {
          version: config.mailcow.version,
          hostname: host,
          timezone: config.timezone,
          clamav: config.mailcow.clamav,
          sogo: config.mailcow.sogo,
          fullTextSearch: config.mailcow.fullTextSearch,
          apiAllowFrom: config.mailcow.apiAllowFrom,
          watchdogEmail: config.admin.email,
          services: config.services,
        },
      },
      offsiteBackupTool: `${BIN_DIR}/mailstack-backup`,
      logging: {
        ...(config.logging.forward
          ? {
              forward: {
                host: config.logging.forward.host,
                port: config.logging.forward.port,
                caCertificate: config.logging.forward.caCertificate,
                peerName: config.logging.forward.peerName ?? config.logging.forward.host,
              },
            }
          : {}),
        ...(pfsenseLogs ? { pfsense: pfsenseLogs } : {}),
        ...(config.logging.localOnly ? { localOnlyReason: config.logging.localOnly.reason } : {}),
        retention: { days: config.logging.retention.days, maxSizeMiB: config.logging.retention.maxSizeMiB },
        containerCache: config.logging.containerCache,
      },
      logRetentionPolicy: {
        minDays: config.logging.retention.legalMinDays,
        maxDays: config.logging.retention.legalMaxDays,
      },
      updates: {
        window: config.updates.window,
        automaticReboot: config.updates.automaticReboot,
        docker: config.updates.docker,
        mailcow: config.updates.mailcow,
        mailcowCheckSchedule: config.updates.mailcowCheckSchedule,
        notifyEmail: config.admin.email,
        notifyFrom: `mailstack-updates@${config.domains[0]?.name ?? host}`,
      },
      postfixLimits: config.limits.postfix,
      monitoring: monitoring.vm,
      tlsKeyPem: tlsKeys.active.privateKeyPem,
      nodeSshPrivateKey: secrets.proxmoxSshPrivateKey ?? "",
    },
    { providers: [proxmoxProvider] },
  );

  const { pbs, offsite } = config.backup;
  const backup =
    pbs || offsite
      ? new BackupJob(
          "backup",
          {
            vm: { id: mailcow.vmId, name: config.vm.name },
            notifyEmail: config.backup.notifyEmail,
            ...(pbs
              ? {
                  pbs: {
                    ...pbs,
                    api: {
                      endpoint: config.proxmox.endpoint,
                      token: secrets.proxmoxApiToken ?? "",
                      ...(config.proxmox.caCertificate ? { caCertificate: config.proxmox.caCertificate } : {}),
                    },
                    jobId: names.backupJob,
                    comment: `mailstack ${config.stack}: the mail VM ${config.vm.name}`,
                    nodes: [config.proxmox.node, ...Object.keys(config.vm.ha?.nodes ?? {})].filter(
                      (node, index, all) => all.indexOf(node) === index,
                    ),
                    schedule: config.backup.schedule,
                    retention: config.backup.retention,
                    password: secrets.pbsPassword ?? "",
                  },
                }
              : {}),
            ...(offsite
              ? {
                  offsite: {
                    ...offsite,
                    host,
                    notifyFrom: `mailstack-backup@${config.domains[0]?.name ?? host}`,
                    accessKeyId: secrets.offsiteAccessKeyId ?? "",
                    secretAccessKey: secrets.offsiteSecretAccessKey ?? "",
                    ...(secrets.offsiteRepositoryPassword
                      ? { repositoryPassword: secrets.offsiteRepositoryPassword }
                      : {}),
                    connection: mailcow.connection,
                    after: mailcow.ready,
                    planHost: mailcow.planHost,
                  },
                }
              : {}),
          },
          { providers: [proxmoxProvider] },
        )
      : undefined;
  const backupOutputs: DeepInput<BackupOutputs> = {
    ...(pbs && backup?.pbsEncryptionKey
      ? {
          pbs: {
            storageId: pbs.storageId,
            datastore: `${pbs.server}:${pbs.datastore}`,
            schedule: config.backup.schedule,
            encryptionKey: backup.pbsEncryptionKey,
          },
        }
      : {}),
    ...(offsite && backup?.resticPassword
      ? {
          offsite: {
            repository: offsite.repository,
            schedule: offsite.schedule,
            checkSchedule: offsite.checkSchedule,
            resticPassword: backup.resticPassword,
            restoreCommand: "sudo mailstack-restore --list",
          },
        }
      : {}),
  };

  new PfSenseRules("pfsense", {
    plan: firewallPlan({
      namespace: pulumi.getStack(),
      wanInterface: config.pfsense.wanInterface,
      lanInterface: config.pfsense.lanInterface,
      hostIpv4: lanIpv4,
      hostPublicIpv6: config.publicIpv6,
      hostAddresses: [lanIpv4, ...(config.lan.ipv6 ? [config.lan.ipv6.split("/")[0] ?? ""] : []), config.publicIpv6],
      publicPorts: publicPorts(endpoints),
      ...(monitoring.pfsense ? { monitoring: monitoring.pfsense } : {}),
    }),
    connection: {
      endpoint: config.pfsense.endpoint,
      apiKey: secrets.pfsenseApiKey ?? "",
      ...(config.pfsense.caCertificate ? { caCertificate: config.pfsense.caCertificate } : {}),
      concurrency: config.apiConcurrency,
    },
    ...(pfsenseLogs
      ? {
          remoteSyslog: {
            address: pfsenseLogs.listen,
            port: pfsenseLogs.port,
            sourceInterface: config.pfsense.lanInterface,
          },
        }
      : {}),
  });

  // pfSense's config.xml into the off-site repository (config/rules.ts: only with backup.offsite).
  const configBackup = config.pfsense.configBackup;
  if (configBackup && backup?.offsiteInstalled) {
    new PfSenseConfigBackup("pfsense-config", {
      api: {
        endpoint: config.pfsense.endpoint,
        apiKey: secrets.pfsenseApiKey ?? "",
        ...(config.pfsense.caCertificate ? { caCertificate: config.pfsense.caCertificate } : {}),
        concurrency: config.apiConcurrency,
      },
      user: configBackup.user,
      description: `mailstack ${config.stack}: ${host} downloads config.xml (key only, scp of that file)`,
      address: configBackup.address ?? config.lan.gateway4,
      port: configBackup.port,
      hostKey: configBackup.hostKey,
      schedule: configBackup.schedule,
      mailHostAddress: lanIpv4,
      connection: mailcow.connection,
      after: backup.offsiteInstalled,
      planHost: mailcow.planHost,
    });
  }

  const metrics = config.monitoring.proxmoxMetrics;
  new Monitoring(
    "monitoring",
    {
      stack: config.stack,
      mailHost: host,
      files: monitoring.files,
      ...(metrics
        ? {
            metricsServer: {
              ...metrics,
              name: clusterPrefix(config.stack),
              ...(secrets.proxmoxMetricsToken ? { token: secrets.proxmoxMetricsToken } : {}),
            },
          }
        : {}),
      ...(monitoring.pveNode
        ? {
            pveNode: {
              connection: {
                host: nodeSshAddress,
                user: config.proxmox.sshUser,
                privateKey: secrets.proxmoxSshPrivateKey ?? "",
                hostKey: config.proxmox.sshHostKey,
              },
              listenAddress: monitoring.pveNode.listenAddress,
              planHost: config.proxmox.node,
              vmid: mailcow.vmId,
            },
          }
        : {}),
    },
    { providers: [proxmoxProvider] },
  );

  const dkimKeys = new Map(config.domains.map((domain) => [domain.name, dkimKey(domain.name)]));
  const plans = mailZones(config);
  const zones = new Map<string, MailDnsZone>();
  for (const [index, plan] of plans.entries()) {
    zones.set(
      plan.zone.name,
      new MailDnsZone(
        plan.zone.name,
        mailDnsZoneArgs(config, plan, {
          tlsaPublicKeys: tlsKeys.published,
          dkimPublicKeyPem: (domain) => dkimKeys.get(domain)?.publicKeyPem ?? "",
        }),
        { providers: [cloudflareProvider] },
      ),
    );
    await afterBatch(index); // common/settle.ts: bounded in-flight registrations
  }

  // Tenants after the bring-up; the DKIM keys are the stack's, so DNS is not waited for.
  const tenants = new MailcowTenants("mailcow-tenants", {
    connection: {
      endpoint: `https://${host}`,
      connectAddress: config.mailcow.apiConnectAddress,
      apiKey: mailcow.apiKey,
      ...(config.mailcow.caCertificate ? { caCertificate: config.mailcow.caCertificate } : {}),
      concurrency: config.apiConcurrency,
    },
    host: { connection: mailcow.connection },
    sogo: config.mailcow.sogo,
    domains: config.domains,
    dkim: Object.fromEntries(
      [...dkimKeys].map(([domain, key]) => [
        domain,
        { selector: config.dns.dkimSelector, privateKeyPem: key.privateKeyPemPkcs8 },
      ]),
    ),
    adminUsername: config.mailcow.adminUsername,
    adopt: config.mailcow.adoptExisting,
    limits: config.limits.mailcow,
    passwordPolicy: config.limits.passwordPolicy,
    after: mailcow.ready,
  });
  await tenants.declared; // declared in batches (common/settle.ts)

  const domains: Record<string, DeepInput<HostedDomainOutputs>> = {};
  for (const domain of config.domains) {
    const zone = zones.get(domain.name);
    if (!zone?.dkim || !zone.mtaSts) throw new Error(`internal: no mail records for ${domain.name}`);
    domains[domain.name] = {
      mx: host,
      mailboxes: domain.mailboxes.map((box) => `${box.localPart}@${domain.name}`),
      mtaStsPolicyUrl: zone.mtaSts.policyUrl,
      mtaStsPolicyId: zone.mtaSts.policyId,
      mtaStsPolicy: zone.mtaSts.policy,
      dkim: { name: zone.dkim.name, value: zone.dkim.value },
      autoconfigHost: `autoconfig.${domain.name}`,
      autodiscoverHost: `autodiscover.${domain.name}`,
    };
  }
  const delegation: Record<string, DeepInput<ZoneDelegationOutputs>> = {};
  for (const plan of plans) {
    const ds = zones.get(plan.zone.name)?.ds;
    delegation[plan.zone.name] = {
      zoneId: plan.zone.zoneId,
      records: zones.get(plan.zone.name)?.records ?? [],
      ...(plan.zone.nameServers ? { nameServers: plan.zone.nameServers } : {}),
      ...(ds ? { ds } : {}),
    };
  }
  const tlsa = [...zones.values()].find((zone) => zone.tlsa)?.tlsa;

  const outputs: DeepInput<StackOutputs> = {
    environment: config.environment,
    mailHost: {
      hostname: host,
      publicIpv4: config.publicIpv4,
      publicIpv6: config.publicIpv6,
      lanIpv4: config.lan.ipv4,
      ...(config.lan.ipv6 ? { lanIpv6: config.lan.ipv6 } : {}),
    },
    endpoints,
    tlsMinVersion: config.tlsMinVersion,
    urls: {
      webmail: config.mailcow.sogo ? `https://${host}/SOGo/` : `https://${host}/`,
      admin: `https://${host}/admin`,
      api: `https://${host}/api/v1/`,
    },
    publicPorts: publicPorts(endpoints),
    domains,
    zones: delegation,
    ...(tlsa ? { tlsa } : {}),
    vm: {
      id: mailcow.vmId,
      sshHostKey: mailcow.sshHostKey,
      apiEndpoint: mailcow.apiEndpoint,
      adminUrl: mailcow.adminUrl,
    },
    mailboxInitialPasswords: tenants.initialPasswords,
    mailcowAdmin: tenants.admin,
    admin: { username: config.admin.username, sudoPassword: mailcow.adminSudoPassword },
    backup: backupOutputs,
  };

  if (config.verify) {
    // What verify checks against: only the outputs it reads (none of them secret).
    const stackOutputs = outputs as Readonly<Record<string, unknown>>;
    const checked = Object.fromEntries(VERIFIED_OUTPUTS.map((key) => [key, stackOutputs[key]]));
    new VerifySchedule("verify", {
      connection: {
        host: config.verify.host,
        hostKey: config.verify.sshHostKey,
        privateKey: secrets.verifySshPrivateKey ?? "",
      },
      sshUser: config.verify.sshUser,
      schedule: config.verify.schedule,
      textfileDirectory: config.verify.textfileDirectory,
      ...(config.verify.resolver ? { resolver: config.verify.resolver } : {}),
      outputs: checked,
      bundle: verifyBundle(),
      planHost: config.verify.host,
    });
  }
  return outputs;
}

// The Pulumi Node.js runtime calls an exported function and uses its result as stack outputs.
export = mailstack;
