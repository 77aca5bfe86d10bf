// The stack `npm run bench:up` deploys (scripts/bench-up.ts): per hosted domain what
// MailcowTenants (components/mailcow-tenants.ts) declares in mailcow, with the same dependencies:
// the domain, its rate limit and DKIM key after it, two mailboxes after it, each with its rate
// limit; the admin after every domain (standing in for the SOGo restart and autoconfig step,
// remote commands that need a VM). The passwords and the DKIM key come from config (the
// stack's RandomPassword and tls.PrivateKey are local providers, not API calls).
import * as pulumi from "@pulumi/pulumi";
import {
  MailcowAdmin,
  MailcowDkimKey,
  MailcowDomain,
  MailcowMailbox,
  MailcowRateLimit,
} from "../../providers/mailcow/resources";

const config = new pulumi.Config();
const connection = {
  endpoint: config.require("mailcowEndpoint"),
  apiKey: config.requireSecret("mailcowApiKey"),
  caCertificate: config.require("mailcowCa"),
  concurrency: config.requireNumber("apiConcurrency"),
};
const password = config.requireSecret("mailboxPassword");
const dkimKey = config.requireSecret("dkimPrivateKey");
const limit = { value: 100, frame: "h" } as const;

const domains = config.requireObject<string[]>("domains").map((domain) => {
  const resource = new MailcowDomain(domain, {
    connection,
    spec: {
      domain,
      description: domain,
      maxAliases: 400,
      maxMailboxes: 10,
      defaultMailboxQuotaMiB: 3072,
      maxMailboxQuotaMiB: 10240,
      quotaMiB: 10240,
      active: true,
    },
    adopt: false,
  });
  new MailcowRateLimit(
    `${domain}-rate-limit`,
    { connection, scope: "domain", object: domain, ...limit },
    { dependsOn: [resource] },
  );
  new MailcowDkimKey(
    `${domain}-dkim`,
    { connection, domain, selector: "dkim", privateKeyPem: dkimKey },
    { dependsOn: [resource] },
  );
  for (const localPart of ["postmaster", "info"]) {
    const address = `${localPart}@${domain}`;
    const mailbox = new MailcowMailbox(
      address,
      {
        connection,
        spec: { localPart, domain, name: localPart, quotaMiB: 1024, active: true, forceTfa: true },
        password,
        forcePasswordUpdate: true,
        adopt: false,
      },
      { dependsOn: [resource] },
    );
    new MailcowRateLimit(
      `${address}-rate-limit`,
      { connection, scope: "mailbox", object: address, ...limit },
      { dependsOn: [mailbox] },
    );
  }
  return resource;
});
new MailcowAdmin("admin", { connection, username: "admin", password }, { dependsOn: domains });
