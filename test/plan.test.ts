// The offline plan end to end: the CLI as users run it, and planStack in-process.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigRunError } from "../config/pulumi";
import { secretKeys } from "../config/schema";
import { generateLocally } from "../plan/local-values";
import { planStack } from "./plans";
import { run } from "./support/exec";
import type { StackOutputs } from "../outputs";

const root = resolve(__dirname, "..");

const work = mkdtempSync(join(tmpdir(), "mailstack-plan-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The same command as `npm run plan` (how fast it is belongs in `npm run bench`, not here). */
function plan(args: string[], cwd = root) {
  return run(process.execPath, ["--require", "tsx/cjs", join(root, "plan", "cli.ts"), ...args], {
    cwd,
    // The test's own preview key cache (plan/key-cache.ts), not the user's.
    env: { ...process.env, NODE_PATH: join(root, "node_modules"), MAILSTACK_PREVIEW_KEY_CACHE: join(work, "keys") },
  });
}

/** Every file under dir by its relative path, with its content. */
function tree(dir: string): Map<string, string> {
  return new Map(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => {
        const path = join(entry.parentPath, entry.name);
        return [path.slice(dir.length + 1), readFileSync(path, "utf8")] as const;
      }),
  );
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, "utf8")) as unknown;
}

describe("npm run plan", () => {
  let prod: Awaited<ReturnType<typeof plan>>;
  beforeAll(async () => {
    prod = await plan(["--stack", "prod", "--out", join(work, "prod")]);
  });

  it("plans the prod stack and prints a summary", () => {
    expect(prod.status, prod.stderr).toBe(0);
    expect(prod.stdout).toMatch(/mailstack plan for stack "prod"/);
    expect(prod.stdout).toMatch(/^Resources: \d+/m);
    expect(prod.stdout).toMatch(/^Outputs:/m);
    expect(prod.stdout).toMatch(/Wrote \d+ files/);
  });

  it("writes plan.json and outputs.json with redacted secrets", () => {
    const document = readJson(join(work, "prod", "plan.json")) as {
      stack: string;
      preview: boolean;
      resources: unknown[];
      notes: string[];
    };
    expect(document).toMatchObject({ project: "mailstack", stack: "prod", preview: true });
    expect(document.notes.join(" ")).toMatch(/generated locally/);
    const outputs = readJson(join(work, "prod", "outputs.json")) as StackOutputs;
    expect(outputs.mailHost).toEqual({
      hostname: "mail.xd-cloud.de",
      publicIpv4: "134.255.229.52",
      publicIpv6: "2a05:bec0:27:fd03::4",
      lanIpv4: "10.3.0.4/24",
      lanIpv6: "fd03::4/64",
    });
    expect(outputs.domains["xd-cloud.de"]?.mx).toBe("mail.xd-cloud.de");
  });

  it("writes the zone file of xd-cloud.de with the corrected records (none of the guide's errors)", () => {
    const zone = readFileSync(join(work, "prod", "dns", "xd-cloud.de.zone"), "utf8");
    expect(zone).toContain("mail.xd-cloud.de. 3600 IN AAAA 2a05:bec0:27:fd03::4");
    expect(zone).not.toMatch(/\sfd03::/); // no ULA in public DNS (errata 5.1)
    expect(zone).toContain("xd-cloud.de. 3600 IN MX 10 mail.xd-cloud.de.");
    expect(zone).toContain('xd-cloud.de. 3600 IN TXT "v=spf1 ip4:134.255.229.52 ip6:2a05:bec0:27:fd03::4 -all"');
    expect(zone).toMatch(/^_dmarc\.xd-cloud\.de\. 3600 IN TXT "v=DMARC1; p=reject; /m);
    expect(zone).not.toMatch(/_dmarc\.mail\.|^mail\.xd-cloud\.de\. \d+ IN MX/m);
    expect(zone).toMatch(/^_mta-sts\.xd-cloud\.de\. 3600 IN TXT "v=STSv1; id=[0-9a-f]{32}"$/m);
    expect(zone).toContain("mta-sts.xd-cloud.de is served by a Cloudflare Worker");
    expect(zone).toMatch(/^_25\._tcp\.mail\.xd-cloud\.de\. 3600 IN TLSA 3 1 1 [0-9a-f]{64}$/m);
    expect(zone).toMatch(
      /^_smtp\._tls\.xd-cloud\.de\. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@xd-cloud\.de"$/m,
    );
    expect(zone).toMatch(/^dkim\._domainkey\.xd-cloud\.de\. 3600 IN TXT "v=DKIM1; k=rsa; /m);
    expect(zone).toContain('xd-cloud.de. 3600 IN CAA 0 issue "letsencrypt.org"');
  });

  it("writes the same files when the stack is planned again (the preview keys are kept between runs)", async () => {
    const again = await plan(["--stack", "prod", "--out", join(work, "prod-again")]);
    expect(again.status, again.stderr).toBe(0);
    const first = tree(join(work, "prod"));
    const second = tree(join(work, "prod-again"));
    expect([...second.keys()].sort()).toEqual([...first.keys()].sort());
    for (const [path, content] of first) expect(second.get(path), path).toBe(content);
    // The keys are in the plan (TLSA and DKIM records), so "the same" includes them.
    expect(first.get("dns/xd-cloud.de.zone")).toMatch(/_25\._tcp\.\S+\s+\d+\s+IN\s+TLSA\s+3 1 1 [0-9a-f]{64}/i);
  });

  it("plans the staging stack", async () => {
    const staging = await plan(["--stack", "staging", "--out", join(work, "staging")]);
    expect(staging.status, staging.stderr).toBe(0);
    expect((readJson(join(work, "staging", "outputs.json")) as StackOutputs).environment).toBe("staging");
  });

  it("exits 2 naming the key and writes nothing when the config is invalid", async () => {
    const project = join(work, "invalid");
    rmSync(project, { recursive: true, force: true });
    mkdirSync(project);
    copyFileSync(join(root, "Pulumi.yaml"), join(project, "Pulumi.yaml"));
    const stackFile = readFileSync(join(root, "Pulumi.prod.yaml"), "utf8").replace("2a05:bec0:27:fd03::4", "fd03::4");
    writeFileSync(join(project, "Pulumi.prod.yaml"), stackFile);
    const result = await plan([], project);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/mailstack:publicIpv6 = "fd03::4": expected a global unicast IPv6 address/);
    expect(result.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    expect(readdirSync(project).sort()).toEqual(["Pulumi.prod.yaml", "Pulumi.yaml"]);
  });

  it("exits 2 with the available stacks for an unknown stack", async () => {
    const result = await plan(["--stack", "qa", "--out", join(work, "qa")]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/available stacks: prod, staging/);
    expect(existsSync(join(work, "qa"))).toBe(false);
  });
});

describe("planStack", () => {
  it("gives identical documents for two runs with the same preview key material", async () => {
    const cache = new Map<string, Promise<Record<string, unknown>>>();
    const generate = (type: string, name: string, inputs: Record<string, unknown>) => {
      const key = `${type}::${name}`;
      if (!cache.has(key)) cache.set(key, generateLocally(type, inputs));
      return cache.get(key) as Promise<Record<string, unknown>>;
    };
    const first = await planStack({ dir: root, stack: "prod", generate });
    const second = await planStack({ dir: root, stack: "prod", generate });
    expect(second.files).toEqual(first.files);
  });

  it("hands rendered files to the plan without registering them as outputs (nothing of them reaches the state)", async () => {
    const result = await planStack({ dir: root, stack: "prod" });
    expect(result.files.some((f) => f.path.startsWith("files/mailcow-vm/"))).toBe(true);
    expect(result.files.some((f) => f.path === "firewall.md")).toBe(true);
    for (const resource of result.run.resources) {
      const outputs = JSON.stringify(resource.outputs ?? {});
      expect(outputs, resource.name).not.toContain("planFiles");
      // The stack's own outputs are what consumers read (endpoints, DS, TLSA, DKIM, MTA-STS policies):
      // they grow with the domains. Every other resource's outputs stay small.
      if (resource.type !== "pulumi:pulumi:Stack") expect(outputs.length, resource.name).toBeLessThan(4096);
    }
  });

  it("never writes a secret value into a plan file", async () => {
    const secrets = Object.fromEntries(
      Object.keys(secretKeys).map((key) => [`mailstack:${key}`, `${key}-0123456789-do-not-leak`]),
    );
    // An InfluxDB metric server, so that its token (a secret of that type only) is used too.
    const monitoring = JSON.stringify({
      scrapeCidrs: ["10.3.5.0/24"],
      pfsenseInterface: "opt1",
      proxmoxMetrics: { type: "influxdb", server: "10.3.5.10", port: 8086, protocol: "https" },
    });
    const result = await planStack({
      dir: root,
      stack: "prod",
      secrets,
      overrides: { "mailstack:monitoring": monitoring },
    });
    expect(result.missingSecrets).toEqual([]);
    expect(JSON.stringify(result.document)).toContain('"influxToken":"[secret]"');
    for (const file of result.files) {
      for (const value of Object.values(secrets)) expect(file.content).not.toContain(value);
    }
  });

  it("rejects an invalid configuration before declaring any resource", async () => {
    const error = await planStack({ dir: root, stack: "prod", overrides: { "mailstack:tlsMinVersion": "1.0" } }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ name: "ConfigError" });
    expect((error as ConfigRunError).problems.map((p) => p.key)).toEqual(["mailstack:tlsMinVersion"]);
  });
});
