// mailstack: Mailcow on Proxmox VE behind pfSense, DNS on Cloudflare, as one Pulumi program.
// The entry point reads and validates the configuration once, composes the components and
// returns the typed stack outputs. Components receive plain, validated values.
import { readConfig } from "./config/pulumi";
import type { StackOutputs } from "./outputs";
import { publicPorts, serviceEndpoints } from "./render/endpoints";

function mailstack(): StackOutputs {
  const { config } = readConfig();
  const endpoints = serviceEndpoints(config);
  const host = config.hostname;

  return {
    environment: config.environment,
    mailHost: {
      hostname: host,
      publicIpv4: config.publicIpv4,
      publicIpv6: config.publicIpv6,
      lanIpv4: config.lan.ipv4,
      ...(config.lan.ipv6 ? { lanIpv6: config.lan.ipv6 } : {}),
    },
    endpoints,
    urls: {
      webmail: config.mailcow.sogo ? `https://${host}/SOGo/` : `https://${host}/`,
      admin: `https://${host}/admin`,
      api: `https://${host}/api/v1/`,
    },
    publicPorts: publicPorts(endpoints),
    domains: Object.fromEntries(
      config.domains.map((domain) => [
        domain.name,
        {
          mx: host,
          mailboxes: domain.mailboxes.map((box) => `${box.localPart}@${domain.name}`),
          mtaStsPolicyUrl: `https://mta-sts.${domain.name}/.well-known/mta-sts.txt`,
          autoconfigHost: `autoconfig.${domain.name}`,
          autodiscoverHost: `autodiscover.${domain.name}`,
        },
      ]),
    ),
  };
}

// The Pulumi Node.js runtime calls an exported function and uses its result as stack outputs.
export = mailstack;
