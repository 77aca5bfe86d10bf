// A fake mailcow API on loopback, following the documented request and response shapes of the
// endpoints mailstack uses (mailcow-openapi.yaml, plus the undocumented dkim_import and
// edit/admin): X-API-Key auth answering {type:"error", msg:"authentication failed"} (with HTTP
// 200 on a read, 401 on a write, as measured on mailcow), API_ALLOW_FROM refusing other sources
// with 401 "api access denied for ip", writes
// answering [{type, log, msg}] ("danger" for errors such as domain_exists), edits as
// {items, attr}, deletes as a list of ids, quotas in MiB on write and bytes on read, and
// mailcow's quirk that an edit without force_tfa resets it.
import { createPublicKey } from "node:crypto";
import { FakeHttpsApi, type JsonReply, type LoggedRequest, type TestCertificate } from "./https";

const MIB = 1024 * 1024;
const text = (value: unknown, fallback = "") =>
  typeof value === "string" ? value : typeof value === "number" ? String(value) : fallback;

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
}

export class FakeMailcow {
  readonly api: FakeHttpsApi;
  readonly domains = new Map<string, Domain>();
  readonly mailboxes = new Map<string, Mailbox>();
  readonly dkim = new Map<string, { selector: string; pubkey: string }>();
  readonly admins = new Map<string, { active: number; forceTfa: number }>([["admin", { active: 1, forceTfa: 0 }]]);
  /** API_ALLOW_FROM: the sources the API answers (undefined: any). */
  allowFrom: readonly string[] | undefined;

  constructor(
    certificate: TestCertificate,
    readonly apiKey: string,
  ) {
    this.api = new FakeHttpsApi(certificate, (request) => this.handle(request));
  }

  private handle(request: LoggedRequest): JsonReply {
    if (this.allowFrom && !this.allowFrom.includes("127.0.0.1"))
      return { status: 401, body: { type: "error", msg: "api access denied for ip 127.0.0.1" } };
    if (request.headers["x-api-key"] !== this.apiKey)
      return {
        status: request.method === "GET" ? 200 : 401,
        body: { type: "error", msg: "authentication failed" },
      };
    const path = request.path.replace(/^\/api\/v1\//, "");
    const body = request.body as Record<string, unknown> | unknown[] | undefined;
    const ok = (log: unknown[], msg: unknown[]): JsonReply => ({ status: 200, body: [{ type: "success", log, msg }] });
    const danger = (log: unknown[], msg: unknown[]): JsonReply => ({
      status: 200,
      body: [{ type: "danger", log, msg }],
    });
    const int = (value: unknown, fallback = 0) =>
      value === undefined ? fallback : Number(value === true ? 1 : value === false ? 0 : value);

    if (request.method === "GET") {
      const [, kind, id = ""] = /^get\/([a-z-]+)\/(.*)$/.exec(path) ?? [];
      if (kind === "domain") {
        const domain = this.domains.get(id);
        if (!domain) return { status: 200, body: {} };
        const used = [...this.mailboxes.values()].filter((m) => m.domain === id).length;
        return {
          status: 200,
          body: {
            active: String(domain.active),
            domain_name: domain.domain,
            description: domain.description,
            max_num_aliases_for_domain: domain.aliases,
            max_num_mboxes_for_domain: domain.mailboxes,
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
            active: String(box.active),
            attributes: {
              force_pw_update: String(box.forcePwUpdate),
              force_tfa: String(box.forceTfa),
              tls_enforce_in: "0",
              tls_enforce_out: "0",
            },
            domain: box.domain,
            local_part: box.localPart,
            name: box.name,
            quota: box.quota * MIB,
            username: id,
          },
        };
      }
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
      return { status: 404, body: { type: "error", msg: "route not found" } };
    }

    const attr = Array.isArray(body) ? {} : ((body?.attr ?? {}) as Record<string, unknown>);
    const items = Array.isArray(body) ? [] : ((body?.items ?? []) as string[]);
    const record = Array.isArray(body) ? {} : (body ?? {});
    switch (path) {
      case "add/domain": {
        const name = text(record.domain, "");
        if (this.domains.has(name)) return danger(["mailbox", "add", "domain", record], ["domain_exists", name]);
        if (!/^[a-z0-9.-]+\.[a-z]{2,}$/.test(name))
          return danger(["mailbox", "add", "domain", record], ["domain_invalid", name]);
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
        // mailcow makes a DKIM key for a new domain unless one exists.
        if (!this.dkim.has(name)) this.dkim.set(name, { selector: "dkim", pubkey: "MAILCOW-GENERATED" });
        return ok(["mailbox", "add", "domain", record, null], ["domain_added", name]);
      }
      case "edit/domain": {
        for (const item of items) {
          const domain = this.domains.get(item);
          if (!domain) return danger(["mailbox", "edit", "domain", body], ["domain_not_found", item]);
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
        return ok(["mailbox", "edit", "domain", body, null], ["domain_modified", items.join(", ")]);
      }
      case "delete/domain":
        for (const id of body as string[]) {
          if ([...this.mailboxes.values()].some((m) => m.domain === id))
            return danger(["mailbox", "delete", "domain"], ["domain_not_empty", id]);
          this.domains.delete(id);
          this.dkim.delete(id);
        }
        return ok(
          ["mailbox", "delete", "domain", { domain: body }, null],
          ["domain_removed", (body as string[]).join(", ")],
        );
      case "add/mailbox": {
        const username = `${text(record.local_part)}@${text(record.domain)}`;
        const domain = this.domains.get(text(record.domain));
        if (!domain) return danger(["mailbox", "add", "mailbox"], ["domain_not_found", text(record.domain)]);
        if (this.mailboxes.has(username)) return danger(["mailbox", "add", "mailbox"], ["object_exists", username]);
        if (record.password !== record.password2) return danger(["mailbox", "add", "mailbox"], ["password_mismatch"]);
        if (int(record.quota) > domain.maxquota)
          return danger(["mailbox", "add", "mailbox"], ["mailbox_quota_exceeded", domain.maxquota]);
        this.mailboxes.set(username, {
          localPart: text(record.local_part),
          domain: text(record.domain),
          name: text(record.name, ""),
          password: text(record.password),
          quota: int(record.quota, domain.defquota),
          active: int(record.active, 1),
          forceTfa: int(record.force_tfa),
          forcePwUpdate: int(record.force_pw_update),
        });
        return ok(
          ["mailbox", "add", "mailbox", { ...record, password: "*", password2: "*" }, null],
          ["mailbox_added", username],
        );
      }
      case "edit/mailbox":
        for (const item of items) {
          const box = this.mailboxes.get(item);
          if (!box) return danger(["mailbox", "edit", "mailbox"], ["access_denied"]);
          Object.assign(box, {
            name: attr.name ?? box.name,
            quota: int(attr.quota, box.quota),
            active: int(attr.active, box.active),
            // mailcow: an edit that omits force_tfa resets it to 0.
            forceTfa: int(attr.force_tfa, 0),
            forcePwUpdate: int(attr.force_pw_update, box.forcePwUpdate),
            password: text(attr.password, box.password) || box.password,
          });
        }
        return ok(
          ["mailbox", "edit", "mailbox", { ...attr, password: "*", password2: "*" }, null],
          ["mailbox_modified", items.join(", ")],
        );
      case "delete/mailbox":
        for (const id of body as string[]) this.mailboxes.delete(id);
        return ok(
          ["mailbox", "delete", "mailbox", { username: body }, null],
          ["mailbox_removed", (body as string[]).join(", ")],
        );
      case "add/dkim_import": {
        const domain = text(record.domain);
        if (!this.domains.has(domain)) return danger(["dkim", "import"], ["dkim_domain_or_sel_invalid", domain]);
        if (this.dkim.has(domain) && int(record.overwrite_existing) !== 1)
          return danger(["dkim", "import"], ["dkim_domain_or_sel_exists", domain]);
        let pubkey: string;
        try {
          pubkey = createPublicKey(text(record.private_key_file))
            .export({ type: "spki", format: "der" })
            .toString("base64");
        } catch {
          return danger(["dkim", "import"], ["dkim_private_key_invalid"]);
        }
        this.dkim.set(domain, { selector: text(record.dkim_selector, "dkim"), pubkey });
        return ok(["dkim", "import", { domain, dkim_selector: record.dkim_selector }], ["dkim_added", domain]);
      }
      case "delete/dkim":
        for (const id of body as string[]) this.dkim.delete(id);
        return ok(["dkim", "delete", { domains: body }], ["dkim_removed", (body as string[]).join(", ")]);
      case "edit/admin":
        for (const item of items) {
          const admin = this.admins.get(item);
          if (!admin) return danger(["admin", "edit"], ["username_invalid", item]);
          // As mailcow: a missing active deactivates, a missing force_tfa resets 2FA.
          admin.active = int(attr.active, 0);
          admin.forceTfa = int(attr.force_tfa, 0);
        }
        return ok(["admin", "edit", { ...attr }], ["admin_modified", items.join(", ")]);
      default:
        return { status: 404, body: { type: "error", msg: "route not found" } };
    }
  }
}
