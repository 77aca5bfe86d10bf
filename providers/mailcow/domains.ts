// The mail objects: hosted domains, mailboxes with enforced 2FA and the stack's DKIM keys.
// Objects that existed before the stack are adopted only when asked, and never deleted by it.
// Behaviour follows mailcow's PHP at the pinned release (mailcow-dockerized 2026-07a, data/web/);
// the fake in test/fakes/mailcow.ts cites the lines. Part of the serialized provider.
import { createPrivateKey, createPublicKey } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import { add, api, bit, changedKeys, flag, getOne, MailcowError, MIB, text, type MailcowConnection } from "./client";

// ---- domains -------------------------------------------------------------------------------

export interface DomainSpec {
  readonly domain: string;
  readonly description: string;
  readonly maxAliases: number;
  readonly maxMailboxes: number;
  readonly defaultMailboxQuotaMiB: number;
  readonly maxMailboxQuotaMiB: number;
  readonly quotaMiB: number;
  readonly active: boolean;
}

export interface DomainInputs {
  readonly connection: MailcowConnection;
  readonly spec: DomainSpec;
  /** Manage a domain that already exists instead of failing. */
  readonly adopt: boolean;
}

export interface DomainOutputs extends DomainInputs {
  /** The domain existed before the stack: deleting the resource leaves it in mailcow. */
  readonly adopted: boolean;
}

function domainAttributes(spec: DomainSpec): Record<string, unknown> {
  return {
    description: spec.description,
    aliases: spec.maxAliases,
    mailboxes: spec.maxMailboxes,
    defquota: spec.defaultMailboxQuotaMiB,
    maxquota: spec.maxMailboxQuotaMiB,
    quota: spec.quotaMiB,
    active: bit(spec.active),
  };
}

function observedDomain(object: Record<string, unknown>): DomainSpec {
  return {
    domain: text(object.domain_name),
    description: text(object.description),
    maxAliases: Number(object.max_num_aliases_for_domain),
    maxMailboxes: Number(object.max_num_mboxes_for_domain),
    defaultMailboxQuotaMiB: Number(object.def_quota_for_mbox) / MIB,
    maxMailboxQuotaMiB: Number(object.max_quota_for_mbox) / MIB,
    quotaMiB: Number(object.max_quota_for_domain) / MIB,
    active: flag(object.active),
  };
}

export const mailcowDomainProvider: pulumi.dynamic.ResourceProvider<DomainInputs, DomainOutputs> = {
  async create(inputs) {
    const { connection, spec } = inputs;
    const existing = await getOne(connection, `get/domain/${spec.domain}`);
    if (existing) {
      if (!inputs.adopt) {
        throw new MailcowError(
          `mailcow already has the domain ${spec.domain}; set mailstack:mailcow.adoptExisting to manage it, or remove it from mailcow`,
        );
      }
      await api(connection, "POST", "edit/domain", { items: [spec.domain], attr: domainAttributes(spec) });
      return { id: spec.domain, outs: { ...inputs, adopted: true } };
    }
    await add(
      connection,
      "add/domain",
      // No DKIM key of mailcow's own (the stack imports its key; generating one leaves a stale
      // OpenSSL error that fails the import, functions.mailbox.inc.php:660-673), and no SOGo
      // restart per domain (MailcowTenants restarts SOGo once after all domains).
      { domain: spec.domain, ...domainAttributes(spec), key_size: 0, restart_sogo: 0 },
      async () => (await getOne(connection, `get/domain/${spec.domain}`)) !== undefined,
    );
    return { id: spec.domain, outs: { ...inputs, adopted: false } };
  },
  async read(id, props) {
    if (!props) throw new Error(`mailcow domain ${id}: nothing to read without its connection`);
    const object = await getOne(props.connection, `get/domain/${id}`);
    return object ? { id, props: { ...props, spec: observedDomain(object) } } : {};
  },
  diff(_id, olds, news) {
    const changes = changedKeys(olds.spec, news.spec);
    return Promise.resolve({
      changes: changes.length > 0 || olds.connection.endpoint !== news.connection.endpoint,
      replaces: changes.includes("domain") ? ["spec.domain"] : [],
      deleteBeforeReplace: true,
    });
  },
  async update(_id, olds, news) {
    if (changedKeys(olds.spec, news.spec).length > 0) {
      await api(news.connection, "POST", "edit/domain", {
        items: [news.spec.domain],
        attr: domainAttributes(news.spec),
      });
    }
    return { outs: { ...news, adopted: olds.adopted } };
  },
  async delete(id, props) {
    if (props.adopted) return; // not ours to remove
    if (await getOne(props.connection, `get/domain/${id}`)) await api(props.connection, "POST", "delete/domain", [id]);
  },
};

// ---- mailboxes -------------------------------------------------------------------------------

export interface MailboxSpec {
  readonly localPart: string;
  readonly domain: string;
  readonly name: string;
  readonly quotaMiB: number;
  readonly active: boolean;
  /** mailcow force_tfa: 2FA enrolment is required at login. */
  readonly forceTfa: boolean;
  /** attributes.tls_enforce_in / tls_enforce_out, managed only when set (else mailcow's default stays). */
  readonly tlsEnforceIn?: boolean;
  readonly tlsEnforceOut?: boolean;
}

export interface MailboxInputs {
  readonly connection: MailcowConnection;
  readonly spec: MailboxSpec;
  /** The initial password (secret). */
  readonly password: string;
  /** Require a new password at first login (create only: mailcow clears it once changed). */
  readonly forcePasswordUpdate: boolean;
  readonly adopt: boolean;
}

export interface MailboxOutputs extends MailboxInputs {
  readonly adopted: boolean;
}

function mailboxAttributes(spec: MailboxSpec): Record<string, unknown> {
  // Sent on every edit (mailcow keeps an omitted force_tfa for mailboxes, :3136, but the edit says what is meant).
  return { name: spec.name, quota: spec.quotaMiB, active: bit(spec.active), force_tfa: bit(spec.forceTfa) };
}

/** The TLS policy attributes the spec manages (tls_enforce_in/out: 0 or 1). */
function tlsPolicy(spec: MailboxSpec): Record<string, number> {
  return {
    ...(spec.tlsEnforceIn !== undefined ? { tls_enforce_in: bit(spec.tlsEnforceIn) } : {}),
    ...(spec.tlsEnforceOut !== undefined ? { tls_enforce_out: bit(spec.tlsEnforceOut) } : {}),
  };
}

/**
 * Sets the managed TLS policy through edit/tls_policy (functions.mailbox.inc.php:1897-1947, which
 * keeps an omitted one of the two; json_api.php:1930-1932).
 */
async function editTlsPolicy(connection: MailcowConnection, spec: MailboxSpec): Promise<void> {
  const attr = tlsPolicy(spec);
  if (Object.keys(attr).length > 0) await api(connection, "POST", "edit/tls_policy", { items: [address(spec)], attr });
}

function observedMailbox(object: Record<string, unknown>, managed: MailboxSpec): MailboxSpec {
  const attributes = (object.attributes ?? {}) as Record<string, unknown>;
  return {
    localPart: text(object.local_part),
    domain: text(object.domain),
    name: text(object.name),
    quotaMiB: Number(object.quota) / MIB,
    active: flag(object.active),
    forceTfa: flag(attributes.force_tfa),
    ...(managed.tlsEnforceIn !== undefined ? { tlsEnforceIn: flag(attributes.tls_enforce_in) } : {}),
    ...(managed.tlsEnforceOut !== undefined ? { tlsEnforceOut: flag(attributes.tls_enforce_out) } : {}),
  };
}

const address = (spec: MailboxSpec) => `${spec.localPart}@${spec.domain}`;

export const mailcowMailboxProvider: pulumi.dynamic.ResourceProvider<MailboxInputs, MailboxOutputs> = {
  async create(inputs) {
    const { connection, spec } = inputs;
    const username = address(spec);
    const existing = await getOne(connection, `get/mailbox/${username}`);
    if (existing) {
      if (!inputs.adopt) {
        throw new MailcowError(
          `mailcow already has the mailbox ${username}; set mailstack:mailcow.adoptExisting to manage it, or remove it from mailcow`,
        );
      }
      await api(connection, "POST", "edit/mailbox", { items: [username], attr: mailboxAttributes(spec) });
      await editTlsPolicy(connection, spec);
      return { id: username, outs: { ...inputs, adopted: true } };
    }
    await add(
      connection,
      "add/mailbox",
      {
        local_part: spec.localPart,
        domain: spec.domain,
        password: inputs.password,
        password2: inputs.password,
        force_pw_update: bit(inputs.forcePasswordUpdate),
        ...mailboxAttributes(spec),
        // add/mailbox takes both (functions.mailbox.inc.php:1105-1106), else the defaults apply.
        ...tlsPolicy(spec),
      },
      async () => (await getOne(connection, `get/mailbox/${username}`)) !== undefined,
    );
    return { id: username, outs: { ...inputs, adopted: false } };
  },
  async read(id, props) {
    if (!props) throw new Error(`mailcow mailbox ${id}: nothing to read without its connection`);
    const object = await getOne(props.connection, `get/mailbox/${id}`);
    return object ? { id, props: { ...props, spec: observedMailbox(object, props.spec) } } : {};
  },
  diff(_id, olds, news) {
    const changes = changedKeys(olds.spec, news.spec);
    return Promise.resolve({
      changes:
        changes.length > 0 || olds.password !== news.password || olds.connection.endpoint !== news.connection.endpoint,
      replaces: changes.filter((key) => key === "localPart" || key === "domain").map((key) => `spec.${key}`),
      deleteBeforeReplace: true,
    });
  },
  async update(_id, olds, news) {
    const passwordChanged = olds.password !== news.password;
    const changed = changedKeys(olds.spec, news.spec);
    if (changed.some((key) => key !== "tlsEnforceIn" && key !== "tlsEnforceOut") || passwordChanged) {
      await api(news.connection, "POST", "edit/mailbox", {
        items: [address(news.spec)],
        attr: {
          ...mailboxAttributes(news.spec),
          ...(passwordChanged ? { password: news.password, password2: news.password } : {}),
        },
      });
    }
    if (changed.includes("tlsEnforceIn") || changed.includes("tlsEnforceOut"))
      await editTlsPolicy(news.connection, news.spec);
    return { outs: { ...news, adopted: olds.adopted } };
  },
  async delete(id, props) {
    if (props.adopted) return;
    if (await getOne(props.connection, `get/mailbox/${id}`))
      await api(props.connection, "POST", "delete/mailbox", [id]);
  },
};

// ---- DKIM keys ------------------------------------------------------------------------------

export interface DkimInputs {
  readonly connection: MailcowConnection;
  readonly domain: string;
  readonly selector: string;
  /** PKCS#8 PEM (secret). */
  readonly privateKeyPem: string;
}

export interface DkimOutputs extends DkimInputs {
  /** Base64 DER SPKI of the key mailcow signs with (compared on refresh). */
  readonly publicKey: string;
}

function spkiBase64(privateKeyPem: string): string {
  return createPublicKey(privateKeyPem).export({ type: "spki", format: "der" }).toString("base64");
}

/** Imports of a key that is valid here but refused there with private_key_error, before giving up. */
const DKIM_IMPORT_ATTEMPTS = 5;

async function importDkim(inputs: DkimInputs): Promise<DkimOutputs> {
  // The import tests PHP's OpenSSL error queue rather than the parsed key (functions.dkim.inc.php:
  // 152-163), and a php-fpm worker keeps errors other calls left there (mailcow issues 2644, 4510).
  // A key that parses here is valid, so private_key_error means a stale error; each refused import
  // drains one, and the import overwrites, so sending it again is safe.
  createPrivateKey(inputs.privateKeyPem);
  for (let attempt = 1; ; attempt++) {
    try {
      await api(inputs.connection, "POST", "add/dkim_import", {
        domain: inputs.domain,
        dkim_selector: inputs.selector,
        private_key_file: inputs.privateKeyPem,
        // Replaces any key mailcow has: the published record is the stack's key.
        overwrite_existing: 1,
      });
      return { ...inputs, publicKey: spkiBase64(inputs.privateKeyPem) };
    } catch (error) {
      if (!(error instanceof MailcowError && error.key === "private_key_error") || attempt >= DKIM_IMPORT_ATTEMPTS) {
        throw error;
      }
    }
  }
}

export const mailcowDkimProvider: pulumi.dynamic.ResourceProvider<DkimInputs, DkimOutputs> = {
  async create(inputs) {
    return { id: inputs.domain, outs: await importDkim(inputs) };
  },
  async read(id, props) {
    if (!props) throw new Error(`mailcow DKIM key of ${id}: nothing to read without its connection`);
    const object = await getOne(props.connection, `get/dkim/${id}`);
    if (!object) return {};
    return {
      id,
      props: {
        ...props,
        publicKey: text(object.pubkey),
        selector: text(object.dkim_selector, props.selector),
      },
    };
  },
  diff(_id, olds, news) {
    const expected = spkiBase64(news.privateKeyPem);
    return Promise.resolve({
      changes:
        olds.publicKey !== expected ||
        olds.selector !== news.selector ||
        olds.connection.endpoint !== news.connection.endpoint,
      replaces: olds.domain !== news.domain ? ["domain"] : [],
    });
  },
  async update(_id, _olds, news) {
    return { outs: await importDkim(news) };
  },
  async delete(id, props) {
    if (await getOne(props.connection, `get/dkim/${id}`)) await api(props.connection, "POST", "delete/dkim", [id]);
  },
};
