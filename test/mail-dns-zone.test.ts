// MailDnsZone under the mock engine: resources, parents, dependencies, outputs, secrets.
import { TYPES } from "../common/resource-types";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { txtStrings } from "../render/dns-record";
import { isSecret, plain, redact, type RecordedResource } from "../plan/engine";
import type { PlanResult } from "../plan/run";
import type { StackOutputs } from "../outputs";
import { planWithKeys } from "./plans";

const RECORD = TYPES.dnsRecord;
const ZONE = TYPES.mailDnsZone;

function resourcesOf(result: PlanResult, type: string): RecordedResource[] {
  return result.run.resources.filter((r) => r.type === type);
}

function zoneId(n: number): string {
  return createHash("md5").update(`zone-${n}`).digest("hex");
}

describe("MailDnsZone", () => {
  it("declares its records as children, through the explicit Cloudflare provider", async () => {
    const { result } = await planWithKeys();
    const [zone] = resourcesOf(result, ZONE);
    expect(zone?.parent).toMatch(/pulumi:pulumi:Stack::mailstack-prod$/);
    const provider = result.run.resources.find((r) => r.type === "pulumi:providers:cloudflare");
    for (const type of [RECORD, TYPES.zoneDnssec, TYPES.zoneSetting, TYPES.workersScript]) {
      const children = resourcesOf(result, type);
      expect(children.length).toBeGreaterThan(0);
      for (const child of children) {
        expect(child.parent).toBe(zone?.urn);
        expect(child.provider).toBe(provider?.urn);
      }
    }
    expect(isSecret(provider?.inputs.apiToken)).toBe(true);
  });

  it("does not wait for anything but the stack's own keys", async () => {
    const { result } = await planWithKeys();
    const keys = new Set(resourcesOf(result, TYPES.privateKey).map((r) => r.urn));
    for (const record of resourcesOf(result, RECORD)) {
      for (const dependency of record.dependencies)
        expect(keys.has(dependency), `${record.name} waits on ${dependency}`).toBe(true);
    }
  });

  it("publishes TLSA 3 1 1 of the stack's TLS key and the DKIM key it generated", async () => {
    const { result, keys } = await planWithKeys();
    const records = resourcesOf(result, RECORD).map((r) => plain(r.inputs) as Record<string, unknown>);
    const tlsKey = keys.get("mail-tls-key-a");
    const spki = (pem: unknown) =>
      createHash("sha256")
        .update(Buffer.from(String(pem).replace(/-----[^-]+-----|\s/g, ""), "base64"))
        .digest("hex");
    const tlsa = records.filter((r) => r.type === "TLSA");
    expect(tlsa).toEqual([
      expect.objectContaining({
        name: "_25._tcp.mail.xd-cloud.de",
        data: { usage: 3, selector: 1, matchingType: 1, certificate: spki(tlsKey?.publicKeyPem) },
      }),
    ]);
    const dkimKey = keys.get("dkim-key-xd-cloud.de");
    const der = String(dkimKey?.publicKeyPem).replace(/-----[^-]+-----|\s/g, "");
    const dkim = records.find((r) => r.name === "dkim._domainkey.xd-cloud.de");
    expect(dkim?.content).toBe(txtStrings(`v=DKIM1; k=rsa; t=s; s=email; p=${der}`));
    expect(
      resourcesOf(result, TYPES.privateKey)
        .filter((r) => r.inputs.algorithm === "RSA")
        .map((r) => [r.name, r.inputs.rsaBits])
        .sort(),
    ).toEqual([
      ["dkim-key-xd-cloud.de", 2048],
      ["mail-tls-key-a", 4096],
    ]);
  });

  it("keeps private keys out of every input and exports the DS, DKIM, TLSA and MTA-STS outputs", async () => {
    const { result, keys } = await planWithKeys();
    // Secret-marked values are allowed to carry keys (a connection's deploy key); nothing else is.
    const everything =
      JSON.stringify(result.run.resources.map((r) => redact(r.inputs))) + JSON.stringify(redact(result.run.outputs));
    for (const values of keys.values()) {
      const pem = values.privateKeyPem;
      if (typeof pem === "string") expect(everything).not.toContain(pem.split("\n")[1]);
    }
    const outputs = redact(result.run.outputs) as StackOutputs;
    const zone = outputs.zones["xd-cloud.de"];
    expect(zone).toMatchObject({
      zoneId: "b2c0cd330f2aec3ee83a4e26ee4f964f",
      nameServers: ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
      ds: "[unknown]",
    });
    // Every record the zone declares is in the outputs (what `npm run verify` expects DNS to serve).
    const declared = resourcesOf(result, RECORD).map((r) => `${String(r.inputs.name)} ${String(r.inputs.type)}`);
    expect(new Set(zone?.records.map((r) => `${r.name} ${r.type}`))).toEqual(new Set(declared));
    expect(zone?.records).toContainEqual({ name: "xd-cloud.de", type: "MX", value: "10 mail.xd-cloud.de" });
    expect(zone?.records).toContainEqual({
      name: "xd-cloud.de",
      type: "TXT",
      value: "v=spf1 ip4:134.255.229.52 ip6:2a05:bec0:27:fd03::4 -all",
    });
    expect(outputs.tlsa?.name).toBe("_25._tcp.mail.xd-cloud.de");
    const mtaSts = resourcesOf(result, RECORD).find((r) => r.name === "xd-cloud.de-mta-sts");
    expect(plain(mtaSts?.inputs.content)).toBe(`"v=STSv1; id=${outputs.domains["xd-cloud.de"]?.mtaStsPolicyId}"`);
    expect(outputs.domains["xd-cloud.de"]?.dkim.name).toBe("dkim._domainkey.xd-cloud.de");
  });

  it("serves the MTA-STS policy from a Worker on mta-sts.<domain>", async () => {
    const { result } = await planWithKeys();
    const [script] = resourcesOf(result, TYPES.workersScript);
    const [domain] = resourcesOf(result, TYPES.workersCustomDomain);
    expect(script?.inputs).toMatchObject({
      scriptName: "mta-sts-xd-cloud-de",
      mainModule: "worker.js",
      accountId: "440b1b00395e5390b6dd1dbd09c86369",
    });
    expect(String(script?.inputs.content)).toContain("mode: enforce\\nmx: mail.xd-cloud.de\\nmax_age: 1209600");
    expect(domain?.inputs).toMatchObject({
      hostname: "mta-sts.xd-cloud.de",
      service: "mta-sts-xd-cloud-de",
      zoneId: "b2c0cd330f2aec3ee83a4e26ee4f964f",
    });
    expect(domain?.dependencies).toContain(script?.urn);
  });

  it("hardens every zone: DNSSEC active, TLS 1.2+ with 1.3 on, HTTPS only, strict SSL", async () => {
    const { result } = await planWithKeys();
    expect(resourcesOf(result, TYPES.zoneDnssec).map((r) => r.inputs.status)).toEqual(["active"]);
    const settings: Record<string, unknown> = Object.fromEntries(
      resourcesOf(result, TYPES.zoneSetting).map((r) => [String(r.inputs.settingId), r.inputs.value]),
    );
    expect(settings).toEqual({ min_tls_version: "1.2", tls_1_3: "on", always_use_https: "on", ssl: "strict" });
  });

  it("publishes the next key's TLSA beside the active one during a rollover", async () => {
    const { result } = await planWithKeys({ "mailstack:tlsKey": JSON.stringify({ active: "a", next: "b" }) });
    const tlsa = resourcesOf(result, RECORD)
      .filter((r) => r.inputs.type === "TLSA")
      .map((r) => r.name);
    expect(tlsa).toEqual(["xd-cloud.de-host-tlsa-25", "xd-cloud.de-host-tlsa-25-next"]);
    expect((redact(result.run.outputs) as StackOutputs).tlsa?.values).toHaveLength(2);
  });

  it("scales to many domains without name conflicts, with the host in its own zone", async () => {
    const domains = Array.from({ length: 12 }, (_, i) => ({
      name: `domain${i}.example`,
      zoneId: zoneId(i),
      mailboxes: [],
    }));
    const { result } = await planWithKeys({
      "mailstack:domains": JSON.stringify(domains),
      "mailstack:hostname": "mx.mail-infra.net",
      "mailstack:hostZone": JSON.stringify({ name: "mail-infra.net", zoneId: zoneId(99) }),
      "mailstack:dmarc": JSON.stringify({ rua: ["mailto:dmarc@domain0.example"] }),
      "mailstack:tlsRpt": JSON.stringify({ rua: ["mailto:tls@domain0.example"] }),
    });
    const urns = result.run.resources.map((r) => r.urn);
    expect(new Set(urns).size).toBe(urns.length);
    expect(resourcesOf(result, ZONE)).toHaveLength(13);
    const scripts = resourcesOf(result, TYPES.workersScript).map((r) => r.inputs.scriptName);
    expect(new Set(scripts).size).toBe(12);
    const records = resourcesOf(result, RECORD).map((r) => [r.inputs.name, r.inputs.type]);
    expect(records).toContainEqual(["mx.mail-infra.net", "AAAA"]);
    expect(records).not.toContainEqual(["mx.mail-infra.net", "MX"]);
    expect(records.filter(([name]) => String(name).endsWith("._report._dmarc.domain0.example"))).toHaveLength(11);
    expect(result.files.map((f) => f.path).filter((p) => p.startsWith("dns/"))).toHaveLength(13);
  });

  it("also plans outside a preview (provider values absent instead of unknown)", async () => {
    const { result } = await planWithKeys({}, { preview: false });
    const outputs = redact(result.run.outputs) as StackOutputs;
    expect(outputs.zones["xd-cloud.de"]?.ds).toBeUndefined();
    expect(outputs.tlsa?.values[0]).toMatch(/^[0-9a-f]{64}$/);
  });
});
