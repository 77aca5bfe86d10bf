// A fake mailcow API on loopback that follows mailcow's own PHP at the pinned release
// (mailcow/mailcow-dockerized, tag 2026-07a, data/web/): authentication as inc/sessions.inc.php:50-94 and
// json_api.php do it, the add/edit/delete/get semantics of inc/functions.mailbox.inc.php,
// functions.admin.inc.php and functions.dkim.inc.php, and the answers they push into
// $_SESSION['return'] ([{type, log, msg}], HTTP 200). Each behaviour cites the upstream lines.
// Upstream source: mailcow/mailcow-dockerized@2026-07a data/web/json_api.php,
// data/web/inc/sessions.inc.php, data/web/inc/functions.mailbox.inc.php,
// data/web/inc/functions.admin.inc.php, data/web/inc/functions.dkim.inc.php.
// (file@tag: json_api.php@2026-07a, functions.mailbox.inc.php@2026-07a, sessions.inc.php@2026-07a)
import { createPublicKey } from "node:crypto";
import { isIP } from "node:net";
import { FakeHttpsApi, type JsonReply, type LoggedRequest, type TestCertificate } from "./https";

const MIB = 1024 * 1024;
const text = (value: unknown, fallback = "") =>
  typeof value === "string" ? value : typeof value === "number" ? String(value) : fallback;

/** What mailcow's PHP OpenSSL leaves queued after openssl_pkey_new without a RANDFILE (php-src ext/openssl). */
export const STALE_OPENSSL_ERROR = "error:12000079:random number generator::Cannot open file";

interface Domain {
  domain: string;
  description: string;
  aliases: number;
  mailboxes: number;
  defquota: number;
  maxquota: number;
  quota: number;
  active: number;
}

interface Mailbox {
  localPart: string;
  domain: string;
  name: string;
  password: string;
  quota: number;
  active: number;
  forceTfa: number;
  forcePwUpdate: number;
  tlsEnforceIn: number;
  tlsEnforceOut: number;
}

interface Admin {
  active: number;
  password: string;
  forceTfa: number;
  forcePwUpdate: number;
}

/** A source matches an API_ALLOW_FROM entry: plain IPs compare as strings, CIDRs by prefix (functions.inc.php:91-129). */
function ipAllowed(address: string, entries: readonly string[]): boolean {
  const bytes = (ip: string): number[] | undefined => {
    if (isIP(ip) === 4) return ip.split(".").map(Number);
    if (isIP(ip) !== 6) return undefined;
    const [head = "", tail = ""] = ip.split("::");
    const parts = (s: string) => (s ? s.split(":") : []);
    const zeros = Array.from({ length: 8 - parts(head).length - parts(tail).length }, () => "0");
    const groups = [...parts(head), ...zeros, ...parts(tail)];
    return groups.flatMap((g) => {
      const n = parseInt(g, 16);
      return [n >> 8, n & 255];
    });
  };
  return entries.some((entry) => {
    const [net = "", prefix] = entry.split("/");
    if (prefix === undefined) return net === address;
    const a = bytes(address);
    const b = bytes(net);
    if (!a || !b || a.length !== b.length) return false;
    let bits = Number(prefix);
    for (let i = 0; i < a.length && bits > 0; i++, bits -= 8) {
      const mask = bits >= 8 ? 255 : (255 << (8 - bits)) & 255;
      if (((a[i] ?? 0) & mask) !== ((b[i] ?? 0) & mask)) return false;
    }
    return true;
  });
}

export class FakeMailcow {
  readonly api: FakeHttpsApi;
  readonly domains = new Map<string, Domain>();
  readonly mailboxes = new Map<string, Mailbox>();
  readonly dkim = new Map<string, { selector: string; pubkey: string }>();
  /** Redis' RL_VALUE hash: domain or mailbox -> "VALUE / 1FRAME" (functions.ratelimit.inc.php:57, 115). */
  readonly rateLimits = new Map<string, string>();
  /** Redis' PASSWD_POLICY hash (strings, as hGet returns them). */
  passwordPolicy: Record<string, string> = {};
  /** The admin table after init_db.inc.php:1365-1375: admin / moohoo, no forced 2FA or password update. */
  readonly admins = new Map<string, Admin>();
  /** API_ALLOW_FROM as php-fpm applied it (docker-entrypoint.sh:135-161); undefined: any source. */
  allowFrom: readonly string[] | undefined;
  /** The read-only key (API_KEY_READ_ONLY), refused on writes (json_api.php:110-117). */
  readOnlyKey: string | undefined;
  /** Whether the SOGo restart through dockerapi fails (functions.mailbox.inc.php:674-692). */
  sogoRestartFails = false;
  /**
   * Restart SOGo on every add/domain, whatever restart_sogo says. No release does (:516, :674 honour
   * it since 2022-01): a test's way to make add/domain answer `domain_added_sogo_failed`, which the
   * provider must take as "created" should a mailcow ever answer it.
   */
  restartsSogoUnasked = false;
  sogoRestarts = 0;
  /**
   * php-fpm workers, each with its OpenSSL error queue; requests go round-robin (on a quiet host one
   * worker serves them all). openssl_pkey_new in add/domain's DKIM generation leaves a stale error
   * that the next openssl_error_string() in the same worker returns (functions.dkim.inc.php:156
   * tests the queue, not the key).
   */
  private workers: string[][] = [[]];
  private served = 0;

  /** Serve with `count` php-fpm workers. */
  useWorkers(count: number): void {
    this.workers = Array.from({ length: count }, () => []);
    this.served = 0;
  }

  /** Leaves `error` in the OpenSSL queue of every worker (as a failed RAND_load_file does). */
  queueOpenSslError(error = STALE_OPENSSL_ERROR): void {
    for (const worker of this.workers) worker.push(error);
  }

  constructor(
    certificate: TestCertificate,
    readonly apiKey: string,
  ) {
    this.api = new FakeHttpsApi(certificate, (request) => this.handle(request));
    this.reset();
  }

  /** mailcow right after its first start. */
  reset(): void {
    this.domains.clear();
    this.mailboxes.clear();
    this.dkim.clear();
    this.rateLimits.clear();
    // php-fpm's first start (phpfpm/docker-entrypoint.sh:104-110).
    this.passwordPolicy = { length: "6", chars: "0", special_chars: "0", lowerupper: "0", numbers: "0" };
    this.admins.clear();
    this.admins.set("admin", { active: 1, password: "moohoo", forceTfa: 0, forcePwUpdate: 0 });
    this.allowFrom = undefined;
    this.readOnlyKey = undefined;
    this.sogoRestartFails = false;
    this.restartsSogoUnasked = false;
    this.sogoRestarts = 0;
    this.useWorkers(1);
  }

  /** password_check (functions.inc.php:277-322): undefined when the password passes, else mailcow's key. */
  private passwordProblem(password: string, password2: string): string | undefined {
    if (password === "" || password2 === "") return "password_complexity";
    if (password !== password2) return "password_mismatch";
    const policy = this.passwordPolicy;
    const on = (key: string) => policy[key] === "1";
    if (
      password.length < Number(policy.length) ||
      (on("special_chars") && !/[^a-zA-Z\d]/.test(password)) ||
      (on("chars") && !/[a-zA-Z]/.test(password)) ||
      (on("numbers") && !/\d/.test(password)) ||
      (on("lowerupper") && !(/[a-z]/.test(password) && /[A-Z]/.test(password)))
    )
      return "password_complexity";
    return undefined;
  }

  private handle(request: LoggedRequest): JsonReply {
    const worker = this.workers[this.served++ % this.workers.length] ?? [];
    const path = request.path.replace(/^\/api\/v1\//, "");
    const write = request.method !== "GET";
    // sessions.inc.php:50-94: only a non-empty header is looked at, stripped to [a-zA-Z0-9-].
    const header = text(request.headers["x-api-key"]).replace(/[^a-zA-Z0-9-]/g, "");
    if (header === "") {
      // No API session: a get prints nothing (json_api.php:449), an add runs and is refused by the
      // function, edits and deletes are refused (json_api.php:1685-1692, 1839-1846).
      if (!write) return { status: 200, body: undefined };
      if (path.startsWith("add/")) return { status: 200, body: [{ type: "danger", msg: "access_denied" }] };
      return { status: 403, body: { type: "error", msg: "API read/write access denied" } };
    }
    const readOnly = this.readOnlyKey !== undefined && header === this.readOnlyKey;
    if (header !== this.apiKey && !readOnly) {
      return { status: 401, body: { type: "error", msg: "authentication failed" } };
    }
    if (this.allowFrom && !ipAllowed("127.0.0.1", this.allowFrom)) {
      return { status: 401, body: { type: "error", msg: "api access denied for ip 127.0.0.1" } };
    }
    if (write && readOnly) return { status: 403, body: { type: "error", msg: "API read/write access denied" } };

    const body = request.body as Record<string, unknown> | unknown[] | undefined;
    const entry = (type: string, log: unknown[], msg: unknown) => ({ type, log, msg });
    const reply = (...entries: object[]): JsonReply => ({ status: 200, body: entries });
    const int = (value: unknown, fallback = 0) =>
      value === undefined ? fallback : Number(value === true ? 1 : value === false ? 0 : value);

    if (!write) {
      const [, kind, id = ""] = /^get\/([a-z-]+)(?:\/(.*))?$/.exec(path) ?? [];
      // Nothing found answers '{}' (json_api.php:348-356, process_get_return).
      if (kind === "domain") {
        const domain = this.domains.get(id);
        if (!domain) return { status: 200, body: {} };
        const used = [...this.mailboxes.values()].filter((m) => m.domain === id).length;
        return {
          status: 200,
          body: {
            active: domain.active,
            domain_name: domain.domain,
            description: domain.description,
            max_num_aliases_for_domain: domain.aliases,
            max_num_mboxes_for_domain: domain.mailboxes,
            // Quotas in bytes on read (functions.mailbox.inc.php:5089-5091).
            def_quota_for_mbox: domain.defquota * MIB,
            max_quota_for_mbox: domain.maxquota * MIB,
            max_quota_for_domain: domain.quota * MIB,
            mboxes_in_domain: used,
            mboxes_left: domain.mailboxes - used,
          },
        };
      }
      if (kind === "mailbox") {
        const box = this.mailboxes.get(id);
        if (!box) return { status: 200, body: {} };
        return {
          status: 200,
          body: {
            active: box.active,
            attributes: {
              force_pw_update: String(box.forcePwUpdate),
              force_tfa: String(box.forceTfa),
              tls_enforce_in: String(box.tlsEnforceIn),
              tls_enforce_out: String(box.tlsEnforceOut),
            },
            domain: box.domain,
            local_part: box.localPart,
            name: box.name,
            quota: box.quota * MIB,
            username: id,
          },
        };
      }
      if (kind === "rl-domain" || kind === "rl-mbox") {
        // functions.ratelimit.inc.php:143-190: {value, frame} split at " / 1", or false -> '{}'.
        const known = kind === "rl-domain" ? this.domains.has(id) : this.mailboxes.has(id);
        const value = known ? this.rateLimits.get(id) : undefined;
        if (value === undefined) return { status: 200, body: {} };
        const [count = "", frame = ""] = value.split(" / 1");
        return { status: 200, body: { value: count, frame } };
      }
      if (kind === "passwordpolicy") return { status: 200, body: { ...this.passwordPolicy } };
      if (kind === "dkim") {
        const key = this.dkim.get(id);
        return {
          status: 200,
          body: key
            ? {
                dkim_selector: key.selector,
                dkim_txt: `v=DKIM1;k=rsa;t=s;s=email;p=${key.pubkey}`,
                length: "2048",
                privkey: "",
                pubkey: key.pubkey,
              }
            : {},
        };
      }
      if (kind === "admin") {
        // functions.admin.inc.php:242-268 ('details').
        const admin = this.admins.get(id);
        if (!admin) return { status: 200, body: {} };
        return {
          status: 200,
          body: {
            username: id,
            tfa_active: "0",
            tfa_active_int: 0,
            active: admin.active === 1 ? "✓" : "✕",
            active_int: admin.active,
            created: "2026-08-01 00:00:00",
            attributes: { force_tfa: String(admin.forceTfa), force_pw_update: String(admin.forcePwUpdate) },
          },
        };
      }
      return { status: 200, body: {} };
    }

    const attr = Array.isArray(body) ? {} : ((body?.attr ?? {}) as Record<string, unknown>);
    const items = Array.isArray(body) ? [] : ([body?.items ?? []].flat() as string[]);
    const record = Array.isArray(body) ? {} : (body ?? {});
    switch (path) {
      case "add/domain": {
        // functions.mailbox.inc.php:491-699, defaults from the "Default" template (init_db.inc.php:1425-1446).
        const log = ["mailbox", "add", "domain", record, null];
        const name = text(record.domain, "");
        if (this.domains.has(name)) return reply(entry("danger", log, ["domain_exists", name]));
        if (!/^[a-z0-9.-]+\.[a-z]{2,}$/.test(name)) return reply(entry("danger", log, ["domain_invalid", name]));
        this.domains.set(name, {
          domain: name,
          description: text(record.description, ""),
          aliases: int(record.aliases, 400),
          mailboxes: int(record.mailboxes, 10),
          defquota: int(record.defquota, 3072),
          maxquota: int(record.maxquota, 10240),
          quota: int(record.quota, 10240),
          active: int(record.active, 1),
        });
        const entries: object[] = [];
        // :660-673: a DKIM key unless key_size or dkim_selector is empty, or one exists in Redis.
        const keySize = int(record.key_size, 2048);
        const selector = record.dkim_selector === undefined ? "dkim" : text(record.dkim_selector);
        if (keySize !== 0 && selector !== "") {
          if (this.dkim.has(name)) entries.push(entry("success", log, "domain_add_dkim_available"));
          else {
            this.dkim.set(name, { selector, pubkey: "MAILCOW-GENERATED" });
            worker.push(STALE_OPENSSL_ERROR);
            entries.push(entry("success", ["dkim", "add", { domains: name }], ["dkim_added", name]));
          }
        }
        // :674-692: restart_sogo restarts SOGo through dockerapi; a failure answers a warning, the domain stays.
        if (int(record.restart_sogo, 0) !== 0 || this.restartsSogoUnasked) {
          if (this.sogoRestartFails) return reply(...entries, entry("warning", log, "domain_added_sogo_failed"));
          this.sogoRestarts++;
        }
        return reply(...entries, entry("success", log, ["domain_added", name]));
      }
      case "edit/domain": {
        const log = ["mailbox", "edit", "domain", body, null];
        for (const item of items) {
          const domain = this.domains.get(item);
          if (!domain) return reply(entry("danger", log, "access_denied"));
          Object.assign(domain, {
            description: attr.description ?? domain.description,
            aliases: int(attr.aliases, domain.aliases),
            mailboxes: int(attr.mailboxes, domain.mailboxes),
            defquota: int(attr.defquota, domain.defquota),
            maxquota: int(attr.maxquota, domain.maxquota),
            quota: int(attr.quota, domain.quota),
            active: int(attr.active, domain.active),
          });
        }
        return reply(entry("success", log, ["domain_modified", items.join(", ")]));
      }
      case "delete/domain": {
        // :5691-5808: refused while mailboxes exist; the DKIM key in Redis is left alone.
        const ids = body as string[];
        for (const id of ids) {
          if ([...this.mailboxes.values()].some((m) => m.domain === id))
            return reply(entry("danger", ["mailbox", "delete", "domain"], ["domain_not_empty", id]));
          this.domains.delete(id);
        }
        return reply(
          entry("success", ["mailbox", "delete", "domain", { domain: body }, null], ["domain_removed", ids.join(", ")]),
        );
      }
      case "add/mailbox": {
        const log = ["mailbox", "add", "mailbox", { ...record, password: "*", password2: "*" }, null];
        const username = `${text(record.local_part)}@${text(record.domain)}`;
        const domain = this.domains.get(text(record.domain));
        if (!domain) return reply(entry("danger", log, ["domain_not_found", text(record.domain)]));
        if (this.mailboxes.has(username)) return reply(entry("danger", log, ["object_exists", username]));
        const problem = this.passwordProblem(text(record.password), text(record.password2));
        if (problem) return reply(entry("danger", log, problem));
        if (int(record.quota) > domain.maxquota)
          return reply(entry("danger", log, ["mailbox_quota_exceeded", domain.maxquota]));
        this.mailboxes.set(username, {
          localPart: text(record.local_part),
          domain: text(record.domain),
          name: text(record.name, ""),
          password: text(record.password),
          quota: int(record.quota, domain.defquota),
          active: int(record.active, 1),
          forceTfa: int(record.force_tfa),
          forcePwUpdate: int(record.force_pw_update),
          // :1105-1106, defaults from MAILBOX_DEFAULT_ATTRIBUTES (vars.inc.php: both 0).
          tlsEnforceIn: int(record.tls_enforce_in),
          tlsEnforceOut: int(record.tls_enforce_out),
        });
        return reply(entry("success", log, ["mailbox_added", username]));
      }
      case "edit/mailbox": {
        // :3106-3510: every omitted attribute keeps its value, force_tfa included (:3136).
        const log = ["mailbox", "edit", "mailbox", { ...attr, password: "*", password2: "*" }, null];
        for (const item of items) {
          const box = this.mailboxes.get(item);
          if (!box) return reply(entry("danger", log, "access_denied"));
          if (text(attr.password) !== "") {
            const problem = this.passwordProblem(text(attr.password), text(attr.password2));
            if (problem) return reply(entry("danger", log, problem));
          }
          Object.assign(box, {
            name: attr.name ?? box.name,
            quota: int(attr.quota, box.quota),
            active: int(attr.active, box.active),
            forceTfa: int(attr.force_tfa, box.forceTfa),
            forcePwUpdate: int(attr.force_pw_update, box.forcePwUpdate),
            tlsEnforceIn: int(attr.tls_enforce_in, box.tlsEnforceIn),
            tlsEnforceOut: int(attr.tls_enforce_out, box.tlsEnforceOut),
            password: text(attr.password) || box.password,
          });
        }
        return reply(entry("success", log, ["mailbox_modified", items.join(", ")]));
      }
      case "edit/tls_policy": {
        // functions.mailbox.inc.php:1897-1947: an omitted one of the two keeps its value.
        const log = ["mailbox", "edit", "tls_policy", attr, null];
        const entries: object[] = [];
        for (const item of items) {
          const box = this.mailboxes.get(item);
          if (!box) {
            entries.push(entry("danger", log, "access_denied"));
            continue;
          }
          box.tlsEnforceIn = int(attr.tls_enforce_in, box.tlsEnforceIn);
          box.tlsEnforceOut = int(attr.tls_enforce_out, box.tlsEnforceOut);
          entries.push(entry("success", log, ["mailbox_modified", item]));
        }
        return reply(...entries);
      }
      case "edit/rl-domain":
      case "edit/rl-mbox": {
        // functions.ratelimit.inc.php:6-140: per object, the frame is checked first, then access
        // (the object must exist), then 0 removes the limit and anything else sets "VALUE / 1FRAME".
        const scope = path === "edit/rl-domain" ? "domain" : "mailbox";
        const log = ["ratelimit", "edit", scope, { ...attr, object: items }];
        const entries: object[] = [];
        for (const item of items) {
          const frame = text(attr.rl_frame);
          if (!["s", "m", "h", "d"].includes(frame)) {
            entries.push(entry("danger", log, "rl_timeframe"));
            continue;
          }
          if (!(scope === "domain" ? this.domains.has(item) : this.mailboxes.has(item))) {
            entries.push(entry("danger", log, "access_denied"));
            continue;
          }
          const value = Math.trunc(Number(attr.rl_value ?? 0)) || 0;
          if (value === 0) this.rateLimits.delete(item);
          else this.rateLimits.set(item, `${value} / 1${frame}`);
          entries.push(entry("success", log, ["rl_saved", item]));
        }
        return reply(...entries);
      }
      case "edit/passwordpolicy": {
        // functions.inc.php:161-203: a length below 3 keeps the old one; omitted keys keep theirs.
        const now = this.passwordPolicy;
        const given = (key: string) => (attr[key] === undefined ? (now[key] ?? "0") : String(int(attr[key])));
        this.passwordPolicy = {
          length: int(attr.length, 0) >= 3 ? String(int(attr.length)) : (now.length ?? "6"),
          chars: given("chars"),
          special_chars: given("special_chars"),
          lowerupper: given("lowerupper"),
          numbers: given("numbers"),
        };
        return reply(entry("success", ["password_complexity", "edit", attr], "password_policy_saved"));
      }
      case "delete/mailbox": {
        const ids = body as string[];
        for (const id of ids) {
          if (!this.mailboxes.delete(id))
            return reply(entry("danger", ["mailbox", "delete", "mailbox"], "access_denied"));
        }
        return reply(
          entry(
            "success",
            ["mailbox", "delete", "mailbox", { username: body }, null],
            ["mailbox_removed", ids.join(", ")],
          ),
        );
      }
      case "add/dkim_import": {
        // functions.dkim.inc.php:143-232. The domain need not exist in mailcow.
        const log = ["dkim", "import", { domain: record.domain, dkim_selector: record.dkim_selector }];
        const domain = text(record.domain);
        let pubkey = "";
        try {
          pubkey = createPublicKey(text(record.private_key_file).trim())
            .export({ type: "spki", format: "der" })
            .toString("base64");
        } catch {
          worker.push("error:1E08010C:DECODER routines::unsupported");
        }
        // :156-163: the oldest queued OpenSSL error, whoever queued it.
        const stale = worker.shift();
        if (stale !== undefined) return reply(entry("danger", log, ["private_key_error", stale]));
        if (!/^[a-z0-9.-]+\.[a-z]{2,}$/.test(domain))
          return reply(entry("danger", log, ["dkim_domain_or_sel_invalid", domain]));
        if (this.dkim.has(domain) && int(record.overwrite_existing) === 0)
          return reply(entry("danger", log, ["dkim_domain_or_sel_exists", domain]));
        const selector = text(record.dkim_selector, "dkim");
        if (!/^[A-Za-z0-9._-]+$/.test(selector))
          return reply(entry("danger", log, ["dkim_domain_or_sel_invalid", domain]));
        this.dkim.set(domain, { selector, pubkey });
        return reply(
          entry("success", ["dkim", "delete", { domains: domain }], ["dkim_removed", domain]),
          entry("success", log, ["dkim_added", domain]),
        );
      }
      case "delete/dkim":
        for (const id of body as string[]) this.dkim.delete(id);
        return reply(
          entry("success", ["dkim", "delete", { domains: body }], ["dkim_removed", (body as string[]).join(", ")]),
        );
      case "edit/admin": {
        // functions.admin.inc.php:68-190 (the API session is user "API", so the normal branch runs).
        const log = ["admin", "edit", { ...attr, password: "*", password2: "*" }];
        const entries: object[] = [];
        for (const item of items) {
          const admin = this.admins.get(item);
          if (!admin) {
            entries.push(entry("danger", log, "access_denied"));
            continue;
          }
          // :79-80: omitted active and username_new keep the current values.
          const active = attr.active === undefined ? admin.active : int(attr.active);
          const usernameNew = text(attr.username_new) || item;
          if (active === 0 && [...this.admins.values()].filter((a) => a.active === 1).length === 1) {
            entries.push(entry("warning", log, "no_active_admin"));
            continue;
          }
          const password = text(attr.password);
          if (password !== "") {
            const problem = this.passwordProblem(password, text(attr.password2));
            if (problem) return reply(...entries, entry("danger", log, problem));
          }
          this.admins.delete(item);
          this.admins.set(usernameNew, {
            active,
            password: password || admin.password,
            // :143-144: omitted force_tfa and force_pw_update become 0.
            forceTfa: int(attr.force_tfa, 0) ? 1 : 0,
            forcePwUpdate: int(attr.force_pw_update, 0) ? 1 : 0,
          });
          entries.push(entry("success", log, ["admin_modified", item]));
        }
        return reply(...entries);
      }
      default:
        return { status: 200, body: [{ type: "danger", msg: "route not found" }] };
    }
  }
}
