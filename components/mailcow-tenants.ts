// MailcowTenants: the hosted domains, their mailboxes (2FA enforced) and DKIM keys in mailcow, and
// the admin account (the stack's password, forced 2FA), a sending limit on every domain and mailbox
// and the password policy, through mailcow's API once the VM's
// bring-up is done; then, on the VM, one SOGo restart for new domains and 443 opened to everyone.
// DNS is not waited for: the DKIM key is the stack's own, the same one MailDnsZone publishes.
import { TYPES } from "../common/resource-types";
import { afterBatch } from "../common/settle";
import { sha256Hex } from "../render/hash";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { httpsPublicScript, installAndRun, sogoRestartScript } from "../render/host-scripts";
import { MAILCOW_DIR } from "../render/mailcow";
import {
  MailcowAdmin,
  MailcowDkimKey,
  MailcowDomain,
  MailcowMailbox,
  MailcowPasswordPolicy,
  MailcowRateLimit,
} from "../providers/mailcow/resources";
import type { PasswordPolicy, RateLimitFrame } from "../providers/mailcow/policies";

export interface TenantRateLimit {
  readonly value: number;
  readonly frame: RateLimitFrame;
}

export interface TenantMailbox {
  readonly localPart: string;
  readonly name?: string;
  readonly quotaMiB: number;
  readonly active: boolean;
  readonly forceTfa: boolean;
  readonly forcePasswordUpdate: boolean;
  /** Its own sending limit (else MailcowTenantsArgs.limits.mailbox). */
  readonly rateLimit?: TenantRateLimit;
  readonly tlsEnforceIn?: boolean;
  readonly tlsEnforceOut?: boolean;
}

export interface TenantDomain {
  readonly name: string;
  readonly description?: string;
  readonly quotaMiB: number;
  readonly maxMailboxes: number;
  readonly maxAliases: number;
  readonly mailboxes: readonly TenantMailbox[];
  /** Its own sending limit (else MailcowTenantsArgs.limits.domain). */
  readonly rateLimit?: TenantRateLimit;
}

export interface MailcowTenantsArgs {
  readonly connection: {
    readonly endpoint: string;
    /** Where the calls connect (the VM's LAN address); TLS is verified for the endpoint's name. */
    readonly connectAddress: string;
    readonly apiKey: pulumi.Input<string>;
    readonly caCertificate?: string;
    /** mailstack:apiConcurrency: at most this many requests in flight to the API. */
    readonly concurrency?: number;
  };
  /** SSH to the mail VM, for what the API cannot do (SOGo restart, opening 443). */
  readonly host: { readonly connection: command.types.input.remote.ConnectionArgs };
  /** SOGo runs (it needs a restart to see new domains). */
  readonly sogo: boolean;
  readonly domains: readonly TenantDomain[];
  /** The stack's DKIM key per domain (PKCS#8 PEM, secret) and its selector. */
  readonly dkim: Readonly<Record<string, { readonly selector: string; readonly privateKeyPem: pulumi.Input<string> }>>;
  readonly adminUsername: string;
  /** Manage domains and mailboxes that already exist instead of failing. */
  readonly adopt: boolean;
  /** The default sending limits: every domain and every declared mailbox gets one. */
  readonly limits: { readonly domain: TenantRateLimit; readonly mailbox: TenantRateLimit };
  readonly passwordPolicy: PasswordPolicy;
  /** mailcow answers only after this (the VM's bring-up). */
  readonly after: pulumi.Resource;
}

/** mailcow's default quota for a new mailbox in the UI, capped by the domain quota. */
const DEFAULT_MAILBOX_QUOTA_MIB = 3072;

export class MailcowTenants extends pulumi.ComponentResource {
  /** Initial mailbox passwords by address (secret): users must replace them and enrol 2FA at first login. */
  readonly initialPasswords: pulumi.Output<Record<string, string>>;
  /** The admin account: its user name and the stack's initial password (secret). */
  readonly admin: { readonly username: string; readonly initialPassword: pulumi.Output<string> };
  /**
   * Settles once every domain's resources are declared: the component declares them in batches
   * (common/settle.ts), so the program awaits this before it returns; it rejects with the error of
   * a declaration that failed.
   */
  readonly declared: Promise<void>;

  constructor(name: string, args: MailcowTenantsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      TYPES.tenants,
      name,
      {
        endpoint: args.connection.endpoint,
        domains: args.domains,
        adminUsername: args.adminUsername,
        adopt: args.adopt,
        limits: args.limits,
        passwordPolicy: args.passwordPolicy,
      },
      opts,
    );
    const connection = pulumi.secret(pulumi.output(args.connection));
    // Only the passwords the stack set: an adopted mailbox keeps the password it had.
    const passwords: pulumi.Output<readonly [string, string | undefined]>[] = [];

    // First the admin: mailcow starts with admin/moohoo (init_db.inc.php:1365-1375); the stack's
    // password and 2FA come before 443 opens to the internet (https-public below).
    const adminPassword = new random.RandomPassword(
      `${name}-admin-password`,
      { length: 32, minUpper: 2, minLower: 2, minNumeric: 2, minSpecial: 2, overrideSpecial: "-_.:+" },
      { parent: this },
    );
    const admin = new MailcowAdmin(
      `${name}-admin`,
      { connection, username: args.adminUsername, password: adminPassword.result },
      { parent: this, dependsOn: [args.after] },
    );
    const domainResources: pulumi.Resource[] = [];
    // The policy applies to passwords set from now on; the stack's own (24 and 32 characters, every
    // class) pass any policy the configuration allows.
    new MailcowPasswordPolicy(
      `${name}-password-policy`,
      { connection, policy: args.passwordPolicy },
      { parent: this, dependsOn: [args.after] },
    );
    const rateLimit = (
      resourceName: string,
      scope: "domain" | "mailbox",
      object: string,
      limit: TenantRateLimit,
      after: pulumi.Resource,
    ) =>
      new MailcowRateLimit(
        resourceName,
        { connection, scope, object, value: limit.value, frame: limit.frame },
        { parent: this, dependsOn: [after] },
      );

    const declareDomain = (tenant: TenantDomain) => {
      const domain = new MailcowDomain(
        `${name}-${tenant.name}`,
        {
          connection,
          adopt: args.adopt,
          spec: {
            domain: tenant.name,
            description: tenant.description ?? tenant.name,
            maxAliases: tenant.maxAliases,
            maxMailboxes: tenant.maxMailboxes,
            defaultMailboxQuotaMiB: Math.min(DEFAULT_MAILBOX_QUOTA_MIB, tenant.quotaMiB),
            maxMailboxQuotaMiB: tenant.quotaMiB,
            quotaMiB: tenant.quotaMiB,
            active: true,
          },
        },
        { parent: this, dependsOn: [args.after] },
      );
      domainResources.push(domain);
      rateLimit(
        `${name}-${tenant.name}-rate-limit`,
        "domain",
        tenant.name,
        tenant.rateLimit ?? args.limits.domain,
        domain,
      );
      const dkim = args.dkim[tenant.name];
      if (dkim) {
        new MailcowDkimKey(
          `${name}-${tenant.name}-dkim`,
          { connection, domain: tenant.name, selector: dkim.selector, privateKeyPem: dkim.privateKeyPem },
          { parent: this, dependsOn: [domain] },
        );
      }
      for (const box of tenant.mailboxes) {
        const address = `${box.localPart}@${tenant.name}`;
        const password = new random.RandomPassword(
          `${name}-${address}-password`,
          { length: 24, minUpper: 2, minLower: 2, minNumeric: 2, minSpecial: 2, overrideSpecial: "-_.:+" },
          { parent: this },
        );
        const mailbox = new MailcowMailbox(
          `${name}-${address}`,
          {
            connection,
            adopt: args.adopt,
            password: password.result,
            forcePasswordUpdate: box.forcePasswordUpdate,
            spec: {
              localPart: box.localPart,
              domain: tenant.name,
              name: box.name ?? box.localPart,
              quotaMiB: box.quotaMiB,
              active: box.active,
              forceTfa: box.forceTfa,
              ...(box.tlsEnforceIn !== undefined ? { tlsEnforceIn: box.tlsEnforceIn } : {}),
              ...(box.tlsEnforceOut !== undefined ? { tlsEnforceOut: box.tlsEnforceOut } : {}),
            },
          },
          { parent: this, dependsOn: [domain] },
        );
        rateLimit(`${name}-${address}-rate-limit`, "mailbox", address, box.rateLimit ?? args.limits.mailbox, mailbox);
        passwords.push(
          pulumi
            .all([mailbox.adopted, password.result])
            .apply(([adopted, result]) => [address, adopted === true ? undefined : result] as const),
        );
      }
    };
    // SOGo lists its domains at start: one restart after all domains, when the set changed (not one
    // per add/domain, whose restart_sogo the provider leaves off).
    const sogoRestart = () => {
      if (args.sogo && args.domains.length > 0) {
        const domains = args.domains.map((domain) => domain.name).sort();
        new command.remote.Command(
          `${name}-sogo-restart`,
          {
            connection: args.host.connection,
            create: "sudo bash -s",
            stdin: sogoRestartScript(MAILCOW_DIR).content,
            triggers: [sha256Hex(domains.join(","))],
          },
          { parent: this, dependsOn: domainResources },
        );
      }
    };
    const declareDomains = async () => {
      for (const [index, tenant] of args.domains.entries()) {
        declareDomain(tenant);
        await afterBatch(index);
      }
      sogoRestart();
    };
    this.declared = declareDomains();
    const publish = installAndRun(httpsPublicScript());
    new command.remote.Command(
      `${name}-https-public`,
      { connection: args.host.connection, create: "sudo bash -s", stdin: publish, triggers: [sha256Hex(publish)] },
      { parent: this, dependsOn: [admin] },
    );

    this.initialPasswords = pulumi.secret(
      pulumi
        .output(this.declared.then(() => pulumi.all(passwords)))
        .apply((entries) =>
          Object.fromEntries(entries.filter((entry): entry is readonly [string, string] => entry[1] !== undefined)),
        ),
    );
    this.admin = { username: args.adminUsername, initialPassword: pulumi.secret(adminPassword.result) };
    this.registerOutputs({ initialPasswords: this.initialPasswords, admin: this.admin });
  }
}
