// The account and policies: the admin account (the stack's password and forced 2FA), sending
// limits per domain and mailbox, and the password policy. Behaviour follows mailcow's PHP at the
// pinned release (mailcow-dockerized 2026-07a, data/web/); the fake in test/fakes/mailcow.ts cites
// the lines. Part of the serialized provider.
import type * as pulumi from "@pulumi/pulumi";
import { api, bit, flag, getOne, MailcowError, text, type MailcowConnection } from "./client";

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
