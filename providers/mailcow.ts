// Pulumi dynamic providers for mailcow's REST API (header X-API-Key; answers [{type, log, msg}];
// edits take {items, attr}; deletes a JSON list of ids): hosted domains, mailboxes with enforced
// 2FA, the stack's DKIM keys, the admin account (the stack's password and forced 2FA), sending
// limits per domain and mailbox, and the password policy.
// Objects that existed before the stack are adopted only when asked, and never deleted by it.
// Behaviour follows mailcow's PHP at the pinned release (mailcow-dockerized 2026-07a, data/web/);
// the fake in test/fakes/mailcow.ts cites the lines. Self-contained: dynamic providers are serialized.
import { createPrivateKey, createPublicKey } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { dispatchingProvider, handlers } from "./dispatch";
import { createOnce, endpointFrom, keepErrorFields, rest, RestError, type ApiConnection } from "./rest";

export type MailcowConnection = ApiConnection;

const MIB = 1024 * 1024;

/** mailcow's message: `msg` of an {type, msg} answer or of the entries of a list of them. */
function messageOf(json: unknown): string | undefined {
  const entries = Array.isArray(json) ? (json as unknown[]) : [json];
  const messages = entries
    .filter((entry): entry is { msg?: unknown } => entry !== null && typeof entry === "object" && "msg" in entry)
    .map((entry) =>
      Array.isArray(entry.msg)
        ? entry.msg.map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(" ")
        : String(entry.msg),
    );
  return messages.length > 0 ? messages.join("; ") : undefined;
}

export class MailcowError extends Error {
  constructor(
    message: string,
    /** mailcow's message key, e.g. "domain_exists". */
    readonly key?: string,
  ) {
    super(message);
    // Serialized by Pulumi, the class sets no message itself (see keepErrorFields).
    keepErrorFields(this, "MailcowError", message);
  }
}

const ADDS_OBJECT = /^add\/(domain|mailbox)$/;

/**
 * Warnings that report a side effect, not a failure: the object was made (add/domain :674-692).
 * The provider sends restart_sogo: 0, which every release since 2022-01 honours (:516, :674), so
 * this is a safety net. An array, not a Set: Pulumi's closure serializer (@pulumi/pulumi 3.248.0,
 * runtime/closure/createClosure.js getOrCreateEntryAsync) treats a Set like any plain object
 * (serializeObjectAsync copies the properties the code reads, here `has` from Set.prototype; the
 * entries live in an internal slot and are lost), so a module-level Set comes back as
 * `{has: Set.prototype.has}`, whose call throws "Method Set.prototype.has called on incompatible
 * receiver". test/provider-serialization.test.ts shows it and keeps such captures out.
 */
const HARMLESS_WARNINGS: readonly string[] = ["domain_added_sogo_failed"];

/** What to do about an authentication refusal (sessions.inc.php:71-93 answers 401 for both). */
function refusalHint(message: string): string {
  if (/api access denied for ip/.test(message)) {
    return "add the address the stack's calls come from to mailstack:mailcow.apiAllowFrom (mailcow applies it when php-fpm starts)";
  }
  return "the API key was refused: the stack's key is mailcow.conf's API_KEY, applied when php-fpm starts; run `pulumi up` again after the bring-up re-applied mailcow.conf";
}

async function api(
  connection: MailcowConnection,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<unknown> {
  // An empty key is no key: mailcow then answers a read with an empty 200 (json_api.php:449),
  // which must never look like "object gone".
  if (!connection.apiKey) throw new MailcowError(`mailcow ${path}: no API key to send; the stack's key is missing`);
  let response;
  try {
    response = await rest(
      endpointFrom(connection),
      // Edits, deletes and the DKIM import (it overwrites) may be sent twice; adding an object may not.
      {
        method,
        path: `/api/v1/${path}`,
        ...(body !== undefined ? { body } : {}),
        idempotent: !ADDS_OBJECT.test(path),
      },
      { "x-api-key": connection.apiKey },
      messageOf,
    );
  } catch (error) {
    if (error instanceof RestError && (error.status === 401 || error.status === 403)) {
      throw new MailcowError(`${error.message}; ${refusalHint(error.message)}`);
    }
    throw error;
  }
  const json = response.json as { type?: unknown } | undefined;
  if (method === "GET" && json === undefined) {
    throw new MailcowError(
      `mailcow ${path}: an empty answer, which mailcow gives a request without an API session; ${refusalHint("")}`,
    );
  }
  // A refusal in the body of a 2xx answer is never an object either.
  if (json && typeof json === "object" && !Array.isArray(json) && json.type === "error") {
    throw new MailcowError(`mailcow ${path}: ${messageOf(json) ?? "error"}`);
  }
  // Writes answer with a list of results; any that is not "success" fails the call.
  if (method === "POST" && Array.isArray(response.json)) {
    for (const entry of response.json as { type?: unknown; msg?: unknown }[]) {
      const key = Array.isArray(entry.msg) && typeof entry.msg[0] === "string" ? entry.msg[0] : String(entry.msg);
      if (entry.type === "success" || (entry.type === "warning" && HARMLESS_WARNINGS.includes(key))) continue;
      throw new MailcowError(`mailcow ${path}: ${messageOf(entry) ?? "failed"}`, key);
    }
  }
  return response.json;
}

/** Sends an add/ request once; when its answer is lost, `exists` tells whether it landed. */
async function add(
  connection: MailcowConnection,
  path: string,
  body: unknown,
  exists: () => Promise<boolean>,
): Promise<void> {
  await createOnce(
    () => api(connection, "POST", path, body).then(() => true),
    async () => ((await exists()) ? true : undefined),
    connection.retries,
  );
}

/** A GET of one object: undefined when mailcow has none (it answers {} or []). */
async function getOne(connection: MailcowConnection, path: string): Promise<Record<string, unknown> | undefined> {
  const json = await api(connection, "GET", path);
  if (!json || typeof json !== "object" || Array.isArray(json) || Object.keys(json).length === 0) return undefined;
  return json as Record<string, unknown>;
}

/** A field as text (mailcow mixes strings and numbers). */
const text = (value: unknown, fallback = "") =>
  typeof value === "string" ? value : typeof value === "number" ? String(value) : fallback;
const flag = (value: unknown) => value === true || value === 1 || value === "1";
const bit = (value: boolean) => (value ? 1 : 0);

function changedKeys<T extends object>(olds: T, news: T): (keyof T)[] {
  return (Object.keys(news) as (keyof T)[]).filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
}

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

// ---- the admin account ----------------------------------------------------------------------

export interface AdminInputs {
  readonly connection: MailcowConnection;
  /** The admin the stack takes over: mailcow's default `admin`, renamed when this differs. */
  readonly username: string;
  /** The stack's initial password (secret); the admin replaces it at first login. */
  readonly password: string;
}

export interface AdminOutputs extends AdminInputs {
  /** attributes.force_tfa as read back (drift shows on refresh). */
  readonly forceTfa: boolean;
}

/** The admin as mailcow reports it (functions.admin.inc.php:242-268), undefined when there is none. */
async function getAdmin(
  connection: MailcowConnection,
  username: string,
): Promise<{ forceTfa: boolean; forcePwUpdate: boolean } | undefined> {
  const object = await getOne(connection, `get/admin/${encodeURIComponent(username)}`);
  if (!object) return undefined;
  const attributes = (object.attributes ?? {}) as Record<string, unknown>;
  return { forceTfa: flag(attributes.force_tfa), forcePwUpdate: flag(attributes.force_pw_update) };
}

/** mailcow's first admin (init_db.inc.php:1365-1375), with the password everyone knows. */
const DEFAULT_ADMIN = "admin";

/**
 * edit/admin resets an omitted force_tfa and force_pw_update to 0, keeps an omitted `active` and
 * user name (functions.admin.inc.php:79-80, 143-144): both flags are always sent, `active` never
 * (an admin an operator deactivated stays deactivated).
 */
async function editAdmin(
  connection: MailcowConnection,
  username: string,
  attr: { forcePwUpdate: boolean; password?: string; usernameNew?: string },
): Promise<void> {
  await api(connection, "POST", "edit/admin", {
    items: [username],
    attr: {
      force_tfa: 1,
      force_pw_update: bit(attr.forcePwUpdate),
      ...(attr.password ? { password: attr.password, password2: attr.password } : {}),
      ...(attr.usernameNew ? { username_new: attr.usernameNew } : {}),
    },
  });
}

export const mailcowAdminProvider: pulumi.dynamic.ResourceProvider<AdminInputs, AdminOutputs> = {
  async create(inputs) {
    const { connection, username } = inputs;
    const existing = await getAdmin(connection, username);
    if (!existing && (username === DEFAULT_ADMIN || !(await getAdmin(connection, DEFAULT_ADMIN)))) {
      throw new MailcowError(
        `mailcow has no admin ${username} (and no default admin to take over); set mailstack:mailcow.adminUsername to an existing admin`,
      );
    }
    // The stack's password replaces the default one, with 2FA and a new password at first login.
    await editAdmin(connection, existing ? username : DEFAULT_ADMIN, {
      forcePwUpdate: true,
      password: inputs.password,
      ...(existing ? {} : { usernameNew: username }),
    });
    return { id: username, outs: { ...inputs, forceTfa: true } };
  },
  async read(id, props) {
    if (!props) throw new Error(`mailcow admin ${id}: nothing to read without its connection`);
    const admin = await getAdmin(props.connection, id);
    return admin ? { id, props: { ...props, forceTfa: admin.forceTfa } } : {};
  },
  diff(_id, olds, news) {
    return Promise.resolve({
      changes:
        olds.username !== news.username ||
        olds.password !== news.password ||
        olds.forceTfa !== true ||
        olds.connection.endpoint !== news.connection.endpoint,
      replaces: olds.username !== news.username ? ["username"] : [],
    });
  },
  async update(_id, olds, news) {
    const admin = await getAdmin(news.connection, news.username);
    if (!admin) throw new MailcowError(`mailcow admin ${news.username} is gone; run \`pulumi refresh\``);
    // force_pw_update stays as it is (mailcow clears it once the admin chose a password).
    await editAdmin(news.connection, news.username, {
      forcePwUpdate: admin.forcePwUpdate,
      ...(olds.password !== news.password ? { password: news.password } : {}),
    });
    return { outs: { ...news, forceTfa: true } };
  },
  // Deleting the resource forgets it: the password and 2FA stay.
};

// ---- sending limits -------------------------------------------------------------------------

/** rspamd's frames for mailcow's limits (functions.ratelimit.inc.php:27, 85). */
export type RateLimitFrame = "s" | "m" | "h" | "d";

export interface RateLimitInputs {
  readonly connection: MailcowConnection;
  /** A hosted domain or a mailbox address. */
  readonly scope: "domain" | "mailbox";
  readonly object: string;
  /** Messages per frame (at least 1: mailcow removes a limit of 0). */
  readonly value: number;
  readonly frame: RateLimitFrame;
}

const RL_PATH = { domain: "rl-domain", mailbox: "rl-mbox" } as const;

/**
 * edit/rl-domain and edit/rl-mbox (json_api.php:1992-1997) store "VALUE / 1FRAME" in Redis'
 * RL_VALUE hash (functions.ratelimit.inc.php:6-140), which rspamd reads per message: the sender's
 * own limit, else its domain's (rspamd.local.lua:706-747). A value of 0 removes the limit; the
 * frame is checked first, also for a removal.
 */
async function editRateLimit(inputs: RateLimitInputs, value: number): Promise<void> {
  await api(inputs.connection, "POST", `edit/${RL_PATH[inputs.scope]}`, {
    items: [inputs.object],
    attr: { rl_value: value, rl_frame: inputs.frame },
  });
}

export const mailcowRateLimitProvider: pulumi.dynamic.ResourceProvider<RateLimitInputs, RateLimitInputs> = {
  async create(inputs) {
    if (!Number.isInteger(inputs.value) || inputs.value < 1) {
      throw new MailcowError(
        `mailcow rate limit of ${inputs.object}: ${inputs.value} messages is no limit; use at least 1`,
      );
    }
    await editRateLimit(inputs, inputs.value);
    return { id: `${inputs.scope}/${inputs.object}`, outs: inputs };
  },
  async read(id, props) {
    if (!props) throw new Error(`mailcow rate limit ${id}: nothing to read without its connection`);
    // get/rl-*/<object>: {value, frame} from RL_VALUE, or {} when there is none (functions.ratelimit.inc.php:143-190).
    const object = await getOne(props.connection, `get/${RL_PATH[props.scope]}/${props.object}`);
    // A removed limit is drift (value 0), not a gone resource: the next up sets it again.
    return {
      id,
      props: object
        ? { ...props, value: Number(object.value), frame: text(object.frame) as RateLimitFrame }
        : { ...props, value: 0 },
    };
  },
  diff(_id, olds, news) {
    return Promise.resolve({
      changes:
        olds.value !== news.value || olds.frame !== news.frame || olds.connection.endpoint !== news.connection.endpoint,
      replaces: olds.scope !== news.scope || olds.object !== news.object ? ["object"] : [],
      deleteBeforeReplace: true,
    });
  },
  async update(_id, _olds, news) {
    return { outs: (await mailcowRateLimitProvider.create(news)).outs as RateLimitInputs };
  },
  async delete(_id, props) {
    await editRateLimit(props, 0);
  },
};

// ---- the password policy ----------------------------------------------------------------------

export interface PasswordPolicy {
  /** The minimum length (mailcow ignores values below 3, functions.inc.php:176). */
  readonly length: number;
  /** At least one letter ("chars"). */
  readonly letters: boolean;
  readonly lowerUpper: boolean;
  readonly numbers: boolean;
  readonly specialChars: boolean;
}

export interface PasswordPolicyInputs {
  readonly connection: MailcowConnection;
  readonly policy: PasswordPolicy;
}

const policyAttributes = (policy: PasswordPolicy) => ({
  length: policy.length,
  chars: bit(policy.letters),
  lowerupper: bit(policy.lowerUpper),
  numbers: bit(policy.numbers),
  special_chars: bit(policy.specialChars),
});

/**
 * edit/passwordpolicy and get/passwordpolicy (json_api.php:506-524, 1915-1917): Redis' PASSWD_POLICY
 * hash (functions.inc.php:161-228), which php-fpm seeds with length 6 and no classes
 * (phpfpm/docker-entrypoint.sh:104-110). password_check applies it to every new password
 * (functions.inc.php:277-322). Deleting the resource leaves the policy as it is.
 */
export const mailcowPasswordPolicyProvider: pulumi.dynamic.ResourceProvider<
  PasswordPolicyInputs,
  PasswordPolicyInputs
> = {
  async create(inputs) {
    await api(inputs.connection, "POST", "edit/passwordpolicy", { attr: policyAttributes(inputs.policy) });
    return { id: "passwordpolicy", outs: inputs };
  },
  async read(id, props) {
    if (!props) throw new Error("mailcow password policy: nothing to read without its connection");
    const object = (await getOne(props.connection, "get/passwordpolicy")) ?? {};
    return {
      id,
      props: {
        ...props,
        policy: {
          length: Number(object.length ?? 0),
          letters: flag(object.chars),
          lowerUpper: flag(object.lowerupper),
          numbers: flag(object.numbers),
          specialChars: flag(object.special_chars),
        },
      },
    };
  },
  diff(_id, olds, news) {
    return Promise.resolve({
      changes:
        JSON.stringify(policyAttributes(olds.policy)) !== JSON.stringify(policyAttributes(news.policy)) ||
        olds.connection.endpoint !== news.connection.endpoint,
    });
  },
  async update(_id, _olds, news) {
    return { outs: (await mailcowPasswordPolicyProvider.create(news)).outs as PasswordPolicyInputs };
  },
};

// ---- one provider for all of them ----------------------------------------------------------
// The resources share one provider object (serialized once per deployment), which dispatches on
// the `kind` each resource adds to its inputs.

const HANDLERS = handlers({
  domain: mailcowDomainProvider,
  mailbox: mailcowMailboxProvider,
  dkim: mailcowDkimProvider,
  admin: mailcowAdminProvider,
  ratelimit: mailcowRateLimitProvider,
  passwordpolicy: mailcowPasswordPolicyProvider,
});

export const mailcowProvider = dispatchingProvider((kind) => {
  const found = HANDLERS[kind as keyof typeof HANDLERS];
  if (!found) throw new Error(`mailcow provider: unknown kind ${String(kind)}`);
  return found;
});

// ---- resources ----------------------------------------------------------------------------

type Input<T> = pulumi.Input<T>;
type ConnectionInput = Input<{ endpoint: Input<string>; apiKey: Input<string>; caCertificate?: Input<string> }>;
const secretOpts = (opts: pulumi.CustomResourceOptions | undefined, extra: string[] = []) => ({
  ...opts,
  additionalSecretOutputs: ["connection", ...extra],
});

export class MailcowDomain extends pulumi.dynamic.Resource {
  declare readonly adopted: pulumi.Output<boolean>;
  constructor(
    name: string,
    args: { connection: ConnectionInput; spec: DomainSpec; adopt: boolean },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      mailcowProvider,
      name,
      { ...args, kind: "domain", adopted: undefined },
      secretOpts(opts),
      "mailcow",
      "Domain",
    );
  }
}

export class MailcowMailbox extends pulumi.dynamic.Resource {
  declare readonly adopted: pulumi.Output<boolean>;
  constructor(
    name: string,
    args: {
      connection: ConnectionInput;
      spec: MailboxSpec;
      password: Input<string>;
      forcePasswordUpdate: boolean;
      adopt: boolean;
    },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      mailcowProvider,
      name,
      { ...args, kind: "mailbox", adopted: undefined },
      secretOpts(opts, ["password"]),
      "mailcow",
      "Mailbox",
    );
  }
}

export class MailcowDkimKey extends pulumi.dynamic.Resource {
  declare readonly publicKey: pulumi.Output<string>;
  constructor(
    name: string,
    args: { connection: ConnectionInput; domain: string; selector: string; privateKeyPem: Input<string> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      mailcowProvider,
      name,
      { ...args, kind: "dkim", publicKey: undefined },
      secretOpts(opts, ["privateKeyPem"]),
      "mailcow",
      "DkimKey",
    );
  }
}

export class MailcowAdmin extends pulumi.dynamic.Resource {
  declare readonly forceTfa: pulumi.Output<boolean>;
  constructor(
    name: string,
    args: { connection: ConnectionInput; username: string; password: Input<string> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      mailcowProvider,
      name,
      { ...args, kind: "admin", forceTfa: undefined },
      secretOpts(opts, ["password"]),
      "mailcow",
      "Admin",
    );
  }
}

export class MailcowRateLimit extends pulumi.dynamic.Resource {
  constructor(
    name: string,
    args: {
      connection: ConnectionInput;
      scope: "domain" | "mailbox";
      object: string;
      value: number;
      frame: RateLimitFrame;
    },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(mailcowProvider, name, { ...args, kind: "ratelimit" }, secretOpts(opts), "mailcow", "RateLimit");
  }
}

export class MailcowPasswordPolicy extends pulumi.dynamic.Resource {
  constructor(
    name: string,
    args: { connection: ConnectionInput; policy: PasswordPolicy },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(mailcowProvider, name, { ...args, kind: "passwordpolicy" }, secretOpts(opts), "mailcow", "PasswordPolicy");
  }
}
