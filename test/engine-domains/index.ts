// The engine test stack of test/engine-domains.test.ts: one MailcowDomain and mailbox per domain
// in the config, as MailcowTenants declares them (each mailbox depends on its domain only), and
// the admin account depending on every domain, standing in for what must see all domains (the
// SOGo restart, a remote command this test cannot run). Requests to the API at most
// `apiConcurrency` at a time (providers/throttle.ts).
import * as pulumi from "@pulumi/pulumi";
import { MailcowAdmin, MailcowDomain, MailcowMailbox } from "../../providers/mailcow/resources";

const config = new pulumi.Config();
const connection = {
  endpoint: config.require("mailcowEndpoint"),
  apiKey: config.requireSecret("mailcowApiKey"),
  caCertificate: config.require("mailcowCa"),
  concurrency: config.requireNumber("apiConcurrency"),
  // A failure shows after a short backoff (the defaults wait 0.5 + 1 + 2 s).
  backoffMs: 50,
};
const domains = config.requireObject<string[]>("domains").map((domain) => {
  const resource = new MailcowDomain(domain, {
    connection,
    spec: {
      domain,
      description: "engine domains test",
      maxAliases: 40,
      maxMailboxes: 5,
      defaultMailboxQuotaMiB: 1024,
      maxMailboxQuotaMiB: 2048,
      quotaMiB: 4096,
      active: true,
    },
    adopt: false,
  });
  new MailcowMailbox(
    `postmaster@${domain}`,
    {
      connection,
      spec: { localPart: "postmaster", domain, name: "Postmaster", quotaMiB: 1024, active: true, forceTfa: true },
      password: config.requireSecret("mailboxPassword"),
      forcePasswordUpdate: true,
      adopt: false,
    },
    { dependsOn: [resource] },
  );
  return resource;
});
new MailcowAdmin(
  "admin",
  { connection, username: "admin", password: config.requireSecret("adminPassword") },
  { dependsOn: domains },
);
