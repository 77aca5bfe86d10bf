// The program entry point: typed stack outputs derived from the validated configuration.
import { describe, expect, it } from "vitest";
import { redact } from "../plan/engine";
import type { StackOutputs } from "../outputs";
import { planWithKeys } from "./plans";

async function outputsOf(overrides: Record<string, string> = {}, stack = "prod"): Promise<StackOutputs> {
  const { result } = await planWithKeys(overrides, { stack });
  return redact(result.run.outputs) as StackOutputs;
}

describe("stack outputs", () => {
  it("publish the mail endpoints with their TLS mode", async () => {
    const outputs = await outputsOf();
    const host = "mail.xd-cloud.de";
    expect(outputs.endpoints).toEqual({
      smtp: { host, port: 25, security: "starttls" },
      submissions: { host, port: 465, security: "implicit-tls" },
      submission: { host, port: 587, security: "starttls" },
      imaps: { host, port: 993, security: "implicit-tls" },
      pop3s: { host, port: 995, security: "implicit-tls" },
      https: { host, port: 443, security: "https" },
    });
    expect(outputs.publicPorts).toEqual([25, 80, 443, 465, 587, 993, 995]);
    expect(outputs.urls).toEqual({
      webmail: `https://${host}/SOGo/`,
      admin: `https://${host}/admin`,
      api: `https://${host}/api/v1/`,
    });
  });

  it("offer plain IMAP and POP3 only when the config enables them", async () => {
    // Plain IMAP/POP3 only where the policy catalog lets a stack relax it (staging; prod refuses them).
    const services = JSON.stringify({ imap: true, pop3: true, pop3s: false });
    const outputs = await outputsOf({ "mailstack:services": services }, "staging");
    expect(outputs.endpoints.imap).toMatchObject({ port: 143, security: "starttls" });
    expect(outputs.endpoints.pop3).toMatchObject({ port: 110, security: "starttls" });
    expect(outputs.endpoints.pop3s).toBeUndefined();
    expect(outputs.publicPorts).toEqual([25, 80, 110, 143, 443, 465, 587, 993]);
  });

  it("list every hosted domain with its mailboxes and client discovery names", async () => {
    const outputs = await outputsOf();
    expect(outputs.domains).toEqual({
      "xd-cloud.de": {
        mx: "mail.xd-cloud.de",
        mailboxes: ["admin@xd-cloud.de", "dmarc-reports@xd-cloud.de", "tls-reports@xd-cloud.de"],
        mtaStsPolicyUrl: "https://mta-sts.xd-cloud.de/.well-known/mta-sts.txt",
        mtaStsPolicy: "version: STSv1\nmode: enforce\nmx: mail.xd-cloud.de\nmax_age: 1209600\n",
        mtaStsPolicyId: expect.stringMatching(/^[0-9a-f]{32}$/) as string,
        dkim: {
          name: "dkim._domainkey.xd-cloud.de",
          value: expect.stringMatching(/^v=DKIM1; k=rsa; t=s; s=email; p=/) as string,
        },
        autoconfigHost: "autoconfig.xd-cloud.de",
        autodiscoverHost: "autodiscover.xd-cloud.de",
      },
    });
  });

  it("carry the environment and addresses of the staging stack", async () => {
    const outputs = await outputsOf({}, "staging");
    expect(outputs.environment).toBe("staging");
    expect(outputs.mailHost.publicIpv6).toBe("2a05:bec0:27:fd03::5");
    expect(Object.keys(outputs.domains)).toEqual(["xd-cloud-staging.de"]);
  });
});
