// The day-2 rules of the mailstack-security pack (logs shipped, retention bounded, sending limits),
// called with resources shaped like the planned stack's (MailcowVm's and MailcowTenants' inputs,
// the RateLimit resources): what the stack declares complies, and every way of dropping a bound
// is reported.
import { describe, expect, it } from "vitest";
import type { ResourceView } from "../policies/args";
import { rateLimits } from "../policies/abuse/rate-limits";
import { TYPES } from "../policies/lib";
import { logRetention } from "../policies/ops/log-retention";
import { logShipping } from "../policies/ops/log-shipping";
import { resource, UNKNOWN_VALUE, violations } from "./support/policy";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const LOGGING = {
  retention: { days: 30, maxSizeMiB: 2048 },
  containerCache: { maxSizeMiB: 20, maxFiles: 5 },
};
const FORWARD = { host: "logs.xd-cloud.de", port: 6514, caCertificate: CA, peerName: "logs.xd-cloud.de" };
const POSTFIX = { connectionCount: 20, connectionRatePerMinute: 60, messageRatePerMinute: 100 };

function vm(props: Record<string, unknown> = {}): ResourceView {
  return resource(TYPES.mailcowVm, "mailcow", {
    logging: { ...LOGGING, forward: FORWARD },
    logRetentionPolicy: { minDays: 7, maxDays: 90 },
    postfixLimits: POSTFIX,
    ...props,
  });
}

function tenants(
  domains: unknown[],
  limits: unknown = { domain: { value: 1000, frame: "h" }, mailbox: { value: 200, frame: "h" } },
) {
  return resource(TYPES.tenants, "mailcow-tenants", { domains, limits });
}
const DOMAIN = {
  name: "xd-cloud.de",
  mailboxes: [{ localPart: "admin" }, { localPart: "alice", rateLimit: { value: 10, frame: "m" } }],
};

describe("log shipping (mailstack-ops-require-log-shipping)", () => {
  it("passes a forward to a collector with its CA, and a local-only declaration with a reason", async () => {
    expect(await violations(logShipping, vm())).toEqual([]);
    const local = vm({ logging: { ...LOGGING, localOnlyReason: "no collector yet; the journal is the record" } });
    expect(await violations(logShipping, local)).toEqual([]);
  });

  it("reports a host that neither ships its logs nor says why", async () => {
    for (const logging of [LOGGING, { ...LOGGING, localOnlyReason: "  " }, { ...LOGGING, forward: { host: "logs" } }])
      expect(await violations(logShipping, vm({ logging }))).toEqual([
        expect.stringMatching(/^mailcow neither ships its logs nor says why not: configure mailstack:logging.forward/),
      ]);
  });

  it("waits for a value the preview cannot know", async () => {
    expect(await violations(logShipping, vm({ logging: UNKNOWN_VALUE }))).toEqual([]);
  });
});

describe("log retention (mailstack-ops-require-bounded-log-retention)", () => {
  it("passes a journal bounded within the policy's days, with Docker's cache bounded", async () => {
    expect(await violations(logRetention, vm())).toEqual([]);
  });

  it("reports retention outside the legal bounds, missing bounds and an unbounded container cache", async () => {
    const at = (days: number) => vm({ logging: { ...LOGGING, retention: { days, maxSizeMiB: 2048 } } });
    expect(await violations(logRetention, at(365))).toEqual([
      expect.stringMatching(/keeps its journal 365 days, outside the retention policy's 7 to 90 days/),
    ]);
    expect(await violations(logRetention, at(3))).toEqual([expect.stringMatching(/3 days, outside/)]);
    expect(await violations(logRetention, vm({ logging: { ...LOGGING, retention: { days: 30 } } }))).toEqual([
      expect.stringMatching(/without a bound in days and size/),
    ]);
    expect(await violations(logRetention, vm({ logRetentionPolicy: {} }))).toEqual([
      expect.stringMatching(/no retention policy to keep its logs within/),
    ]);
    expect(await violations(logRetention, vm({ logging: { ...LOGGING, containerCache: {} } }))).toEqual([
      expect.stringMatching(/keeps Docker's container logs unbounded/),
    ]);
  });
});

describe("sending limits (mailstack-abuse-require-rate-limits)", () => {
  it("passes domains and mailboxes with their own limit or the default, and Postfix's client limits", async () => {
    expect(await violations(rateLimits, tenants([DOMAIN]))).toEqual([]);
    expect(await violations(rateLimits, vm())).toEqual([]);
    const limit = resource(TYPES.rateLimit, "l", {
      scope: "mailbox",
      object: "alice@xd-cloud.de",
      value: 10,
      frame: "m",
    });
    expect(await violations(rateLimits, limit)).toEqual([]);
  });

  it("reports declared mailboxes without a limit, a limit of 0, and a RateLimit of 0", async () => {
    expect(await violations(rateLimits, tenants([DOMAIN], { domain: { value: 1000, frame: "h" } }))).toEqual([
      "mailbox admin@xd-cloud.de has no sending limit: keep mailstack:limits.mailcow.mailbox",
    ]);
    const zero = { ...DOMAIN, rateLimit: { value: 0, frame: "h" } };
    expect(await violations(rateLimits, tenants([zero]))).toEqual([
      "domain xd-cloud.de has the sending limit 0: use 1 or more",
    ]);
    const limit = resource(TYPES.rateLimit, "l", { scope: "domain", object: "xd-cloud.de", value: 0, frame: "h" });
    expect(await violations(rateLimits, limit)).toEqual(["domain xd-cloud.de has the sending limit 0: use 1 or more"]);
  });

  it("reports a missing Postfix client limit", async () => {
    expect(await violations(rateLimits, vm({ postfixLimits: { ...POSTFIX, messageRatePerMinute: 0 } }))).toEqual([
      "mailcow has no Postfix messageRatePerMinute limit: keep mailstack:limits.postfix.messageRatePerMinute",
    ]);
  });
});
