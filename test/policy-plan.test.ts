// The policy pack on planned stacks: prod and staging pass, and a stack config that turns
// something insecure on fails the plan with the matching rule named (by the pack, or by the
// config validation in front of it, which names the rule it protects).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { RELAXABLE_RULES, RULE_NAMES } from "../common/policy-catalog";
import { commandScripts } from "../policies/lib";
import { policies } from "../policies/rules";
import { plain } from "../plan/engine";
import { policyProxy } from "../common/sdk-internals";
import { evaluatePolicies, THIS_PACK, type Pack, type PolicyFinding } from "../plan/policy";
import { run } from "./support/exec";
import { planWithKeys, root } from "./plans";
import { rejection } from "./tools";

const work = mkdtempSync(join(tmpdir(), "mailstack-policy-plan-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const mandatoryRules = (findings: readonly PolicyFinding[]) =>
  [...new Set(findings.filter((f) => f.enforcementLevel === "mandatory").map((f) => f.policy))].sort();

describe("the policy pack", () => {
  it("registers every rule of the registry once, with severity, description and remediation", () => {
    expect(policies.map((p) => p.name).sort()).toEqual([...RULE_NAMES].sort());
    for (const policy of policies) {
      expect(policy.name).toMatch(
        /^mailstack-(tls|dns|2fa|mail|exposure|resilience|ops|abuse)-(require|disallow|enforce|restrict|report)-[a-z0-9-]+$/,
      );
      expect(policy.severity, policy.name).toBeDefined();
      expect(policy.description.length, policy.name).toBeGreaterThan(20);
      expect(policy.remediationSteps, policy.name).toBeDefined();
    }
  });

  it("passes the prod plan with no mandatory violation, and reports what it cannot enforce as advisory", async () => {
    const { result } = await planWithKeys();
    expect(result.policy.mandatory).toEqual([]);
    expect(result.policy.findings.length).toBeGreaterThan(0);
    for (const finding of result.policy.findings) {
      expect(finding).toEqual({
        policy: expect.stringMatching(/^mailstack-/) as string,
        enforcementLevel: "advisory",
        severity: expect.stringMatching(/^(low|medium|high|critical)$/) as string,
        urn: expect.any(String) as string,
        message: expect.any(String) as string,
      });
    }
    // Advisory by design: the logins the stack cannot give 2FA, the VM on one node (prod has no HA),
    // and pfSense's configuration backup (prod has mailstack:pfsense.configBackup, so that one
    // reports nothing here).
    expect(
      Object.entries(result.policy.levels)
        .filter(([, level]) => level === "advisory")
        .map(([name]) => name)
        .sort(),
    ).toEqual([
      "mailstack-2fa-report-unenforced-logins",
      "mailstack-resilience-report-pfsense-config-backup",
      "mailstack-resilience-report-single-node",
    ]);
    expect(result.policy.findings).toContainEqual(
      expect.objectContaining({
        policy: "mailstack-resilience-report-single-node",
        message: expect.stringContaining("runs on pve only (no Proxmox HA)") as string,
      }),
    );
    expect(result.policy.findings.map((f) => f.policy)).not.toContain(
      "mailstack-resilience-report-pfsense-config-backup",
    );
    const written = new Map(result.files.map((f) => [f.path, f.content]));
    expect(JSON.parse(written.get("policy.json") ?? "")).toEqual(result.policy.findings);
  });

  it("passes the staging plan, whose monitoring-mode DMARC and MTA-STS are advisory there", async () => {
    const { result } = await planWithKeys({}, { stack: "staging" });
    expect(result.policy.mandatory).toEqual([]);
    const advisory = new Set(result.policy.findings.map((f) => f.policy));
    expect(advisory).toContain("mailstack-mail-require-dmarc-enforcement");
    expect(advisory).toContain("mailstack-tls-enforce-mta-sts");
    // Staging does not back pfSense's configuration up: reported, never failing.
    expect(advisory).toContain("mailstack-resilience-report-pfsense-config-backup");
    const config = JSON.parse(
      new Map(result.files.map((f) => [f.path, f.content])).get("policy-config.json") ?? "",
    ) as Record<string, string>;
    expect(Object.keys(config).sort()).toEqual([...RULE_NAMES].sort());
    expect(config["mailstack-mail-require-dmarc-enforcement"]).toBe("advisory");
    expect(config["mailstack-dns-require-dnssec"]).toBe("mandatory");
  });
});

describe("what the rules read in the real plan", () => {
  it("is what the VM and the node get: the scripts inside the bring-up's and the snippets' wrappers", async () => {
    const { result } = await planWithKeys();
    const texts = (name: string) => {
      const resource = result.run.resources.find((r) => r.name === name);
      return commandScripts(plain(resource?.inputs) as Record<string, unknown>).join("\n");
    };
    expect(texts("mailcow-firewall")).toContain("ufw allow log from 10.3.0.0/24 to any port 22 proto tcp");
    expect(texts("mailcow-admin-access")).toContain("PasswordAuthentication no");
    expect(texts("mailcow-postfix-tls")).toMatch(/^smtpd_tls_mandatory_protocols = >=TLSv1\.2$/m);
    expect(texts("mailcow-user-data")).toMatch(/^#cloud-config/m);
    expect(texts("mailcow-user-data")).toContain("ufw allow log from 10.3.0.0/24 to any port 22 proto tcp");
  });
});

describe("evaluating the pack on a plan", () => {
  // The offline plan judges every resource of stacks with hundreds of domains (issue 19): each
  // resource's view (a copy of its props behind the SDK's unknown-checking proxy) is built once
  // for all resource rules, and the stack's once for all stack rules, not once per rule.
  it("builds one view per resource for the resource rules and one per resource for the stack rules", async () => {
    const { result } = await planWithKeys();
    const resources = result.run.resources.length;
    const resourceRules = policies.filter((p) => !("validateStack" in p)).length;
    const stackRules = policies.filter((p) => "validateStack" in p).length;
    expect(resourceRules).toBeGreaterThan(1);
    expect(stackRules).toBeGreaterThan(1);
    const levels = Object.fromEntries(policies.map((p) => [p.name, "advisory" as const]));
    const passes = { resource: 0, stack: 0 };
    const counting: Pack = {
      ...THIS_PACK,
      checkResourceRules: (rules, resource, config) => {
        passes.resource++;
        return THIS_PACK.checkResourceRules(rules, resource, config);
      },
      checkStackRules: (rules, views, config) => {
        passes.stack++;
        return THIS_PACK.checkStackRules(rules, views, config);
      },
    };
    const proxies = vi.spyOn(policyProxy, "unknownCheckingProxy");
    try {
      const report = await evaluatePolicies(result.run, levels, counting);
      expect(report.findings).toEqual(result.policy.findings.map((f) => ({ ...f, enforcementLevel: "advisory" })));
      expect(passes).toEqual({ resource: resources, stack: 1 });
      expect(proxies).toHaveBeenCalledTimes(2 * resources);
    } finally {
      proxies.mockRestore();
    }
  });
});

describe("insecure stack configs fail the plan with the rule named", () => {
  it("DMARC none in prod: mailstack-mail-require-dmarc-enforcement", async () => {
    const dmarc = JSON.stringify({ policy: "none", rua: ["mailto:dmarc-reports@xd-cloud.de"] });
    const { result } = await planWithKeys({ "mailstack:dmarc": dmarc });
    expect(mandatoryRules(result.policy.findings)).toEqual(["mailstack-mail-require-dmarc-enforcement"]);
    expect(result.policy.mandatory.map((f) => f.message)).toContainEqual(expect.stringMatching(/p=none/));
  });

  it("DNSSEC off: mailstack-dns-require-dnssec (and DANE's MX coverage with it)", async () => {
    const dns = JSON.stringify({ dnssec: false, dane: false, ttl: 3600, dkimSelector: "dkim" });
    const { result } = await planWithKeys({ "mailstack:dns": dns });
    expect(mandatoryRules(result.policy.findings)).toEqual([
      "mailstack-dns-require-dnssec",
      "mailstack-dns-require-tlsa-for-mx",
    ]);
  });

  it("2FA off for a mailbox: mailstack-2fa-require-mailbox-tfa, at the Mailbox mailcow receives", async () => {
    const domains = JSON.stringify([
      {
        name: "xd-cloud.de",
        zoneId: "b2c0cd330f2aec3ee83a4e26ee4f964f",
        mailboxes: [{ localPart: "bob", forceTfa: false }],
      },
    ]);
    const { result } = await planWithKeys({ "mailstack:domains": domains });
    expect(mandatoryRules(result.policy.findings)).toEqual(["mailstack-2fa-require-mailbox-tfa"]);
    expect(result.policy.mandatory).toEqual([
      expect.objectContaining({
        message: "mailbox bob@xd-cloud.de does not have to enrol 2FA: set forceTfa true in mailstack:domains",
        urn: expect.stringMatching(
          /pulumi-nodejs:dynamic\/mailcow:Mailbox::mailcow-tenants-bob@xd-cloud\.de$/,
        ) as string,
      }),
    ]);
  });

  it("logs neither shipped nor declared local-only: mailstack-ops-require-log-shipping", async () => {
    const { result } = await planWithKeys({ "mailstack:logging": "{}" });
    expect(mandatoryRules(result.policy.findings)).toEqual(["mailstack-ops-require-log-shipping"]);
    // Judged on MailcowVm's inputs and on what the host runs: the logging step (and the first-boot
    // snippet carrying it), each naming the keys that fix it.
    const messages = result.policy.mandatory.map((f) => f.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/neither ships its logs nor says why not/),
        expect.stringMatching(/^mailcow-logging runs the logging step without a collector and without a reason/),
      ]),
    );
    for (const message of messages)
      expect(message).toMatch(/mailstack:logging\.forward or mailstack:logging\.localOnly\.reason/);
  });

  it("a journal kept beyond the retention policy: rejected before any resource, naming the retention rule", async () => {
    const logging = JSON.stringify({
      localOnly: { reason: "staging host, nothing leaves it" },
      retention: { days: 365 },
    });
    const error = await rejection(planWithKeys({ "mailstack:logging": logging }));
    expect(error.message).toMatch(
      /mailstack:logging.retention.days = 365: .*outside the retention policy's bounds \(7 to 90 days.*policy mailstack-ops-require-bounded-log-retention/,
    );
  });

  it("TLS 1.0 allowed: rejected before any resource, naming mailstack-tls-require-mail-tls12", async () => {
    const error = await rejection(planWithKeys({ "mailstack:tlsMinVersion": "1.0" }));
    expect(error.message).toMatch(/mailstack:tlsMinVersion = "1.0": .*policy mailstack-tls-require-mail-tls12/);
  });

  it("SSH open to the world: rejected before any resource, naming mailstack-exposure-restrict-ssh-sources", async () => {
    const admin = JSON.stringify({
      username: "mailops",
      email: "admin@xd-cloud.de",
      sshKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFSB1f8wkIt2S5RgAv5lXwfhALMeEiVictb/e4JOAnLL ops@xd-cloud.de"],
      sshCidrs: ["0.0.0.0/0"],
    });
    const error = await rejection(planWithKeys({ "mailstack:admin": admin }));
    expect(error.message).toMatch(
      /mailstack:admin.sshCidrs = .*0.0.0.0\/0.*: together these open SSH to the whole of public IPv4.*policy mailstack-exposure-restrict-ssh-sources/,
    );
  });

  it("lowering rules: never in production, and only the relaxable ones in staging", async () => {
    const prod = await rejection(
      planWithKeys({ "mailstack:policy": JSON.stringify({ advisory: ["mailstack-mail-require-dmarc-enforcement"] }) }),
    );
    expect(prod.message).toMatch(/mailstack:policy.advisory\[0\].*the stack "prod" enforces every rule/);
    // The label is not the stack file's to flip: prod relabelled staging still relaxes nothing.
    const relabelled = await rejection(
      planWithKeys({
        "mailstack:environment": "staging",
        "mailstack:policy": JSON.stringify({ advisory: [...RELAXABLE_RULES] }),
      }),
    );
    expect(relabelled.message).toMatch(/mailstack:environment.*the stack "prod" is production to the policy pack/);
    for (const [index, name] of RELAXABLE_RULES.entries())
      expect(relabelled.message).toContain(
        `mailstack:policy.advisory[${index}] = "${name}": the stack "prod" enforces`,
      );
    const staging = await rejection(
      planWithKeys(
        { "mailstack:policy": JSON.stringify({ advisory: ["mailstack-dns-require-dnssec"] }) },
        { stack: "staging" },
      ),
    );
    expect(staging.message).toMatch(
      new RegExp(
        `mailstack-dns-require-dnssec guards something no environment may go without; only ${RELAXABLE_RULES[0]}`,
      ),
    );
    const unknown = await rejection(
      planWithKeys({ "mailstack:policy": JSON.stringify({ advisory: ["no-such-rule"] }) }),
    );
    expect(unknown.message).toMatch(
      /mailstack:policy.advisory\[0\] = "no-such-rule": expected a rule of the mailstack-security pack/,
    );
  });
});

describe("npm run plan with a failing rule", () => {
  it("writes the plan and policy.json, names the rule and exits 3", async () => {
    const project = join(work, "dmarc-none");
    mkdirSync(project, { recursive: true });
    copyFileSync(join(root, "Pulumi.yaml"), join(project, "Pulumi.yaml"));
    const stackFile = readFileSync(join(root, "Pulumi.prod.yaml"), "utf8").replace(
      /(mailstack:dmarc:\n\s+policy:) reject/,
      "$1 none",
    );
    expect(stackFile).toMatch(/policy: none/);
    writeFileSync(join(project, "Pulumi.prod.yaml"), stackFile);
    const result = await run(process.execPath, ["--require", "tsx/cjs", join(root, "plan", "cli.ts")], {
      cwd: project,
      env: { ...process.env, NODE_PATH: join(root, "node_modules") },
    });
    expect(result.status, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/mandatory policy violation\(s\): mailstack-mail-require-dmarc-enforcement/);
    expect(result.stdout).toMatch(/MANDATORY mailstack-mail-require-dmarc-enforcement \[high\]/);
    // The rule's remediation goes with it, on the console and in the pull request summary.
    expect(result.stdout).toMatch(/fix: Set mailstack:dmarc\.policy to quarantine or reject/);
    expect(readFileSync(join(project, "out", "prod", "policy.md"), "utf8")).toMatch(
      /How to fix:\n\n(- .*\n)*- `mailstack-mail-require-dmarc-enforcement`: Set mailstack:dmarc\.policy to quarantine or reject/,
    );
    const findings = JSON.parse(readFileSync(join(project, "out", "prod", "policy.json"), "utf8")) as PolicyFinding[];
    expect(findings.filter((f) => f.enforcementLevel === "mandatory").map((f) => f.policy)).toContain(
      "mailstack-mail-require-dmarc-enforcement",
    );
    expect(existsSync(join(project, "out", "prod", "plan.json"))).toBe(true);
  });
});

describe("the pull request workflow", () => {
  interface Step {
    name?: string;
    uses?: string;
    run?: string;
    if?: string;
    "working-directory"?: string;
    with?: Record<string, unknown>;
  }
  interface Job {
    if?: string;
    needs?: string;
    permissions?: Record<string, string>;
    environment?: string;
    env?: Record<string, string>;
    strategy: { matrix: { stack: string[] } };
    steps: Step[];
  }
  const workflow = parse(readFileSync(join(root, ".github", "workflows", "policy.yml"), "utf8")) as {
    on: Record<string, unknown>;
    permissions: Record<string, string>;
    jobs: Record<string, Job>;
  };
  const { review, comment, preview } = workflow.jobs;
  const runs = (job: Job | undefined) => (job?.steps ?? []).map((s) => s.run ?? "").join("\n");

  it("reviews every stack of the repository on each pull request, judged by the base branch", () => {
    expect(Object.keys(workflow.on)).toEqual(["pull_request"]);
    for (const stack of review?.strategy.matrix.stack ?? [])
      expect(existsSync(join(root, `Pulumi.${stack}.yaml`))).toBe(true);
    expect(review?.strategy.matrix.stack.sort()).toEqual(["prod", "staging"]);
    const checkouts = (review?.steps ?? []).filter((s) => s.uses?.startsWith("actions/checkout@"));
    expect(checkouts.map((s) => s.with?.ref)).toEqual([undefined, "${{ github.event.pull_request.base.sha }}"]);
    // The review tree and every review command come from the base checkout.
    expect(runs(review)).toMatch(/base\/scripts\/policy-review-tree\.sh base head review/);
    expect(runs(review)).toMatch(/cd review && node --require tsx\/cjs scripts\/policy-review\.ts plan/);
    expect(runs(review)).not.toMatch(/npm run plan/);
    const fail = review?.steps.find((s) => s.name === "Fail on mandatory policy violations");
    expect(fail?.if).toBe("steps.plan.outputs.status != '0'");
  });

  it("gives each job the least it needs, secrets only to the repository's own branches, actions by commit", () => {
    expect(workflow.permissions).toEqual({});
    expect(review?.permissions).toEqual({ contents: "read" });
    expect(JSON.stringify(review)).not.toMatch(/secrets\./);
    expect(comment?.permissions).toEqual({ "pull-requests": "write" });
    for (const job of [comment, preview])
      expect(job?.if).toContain("github.event.pull_request.head.repo.full_name == github.repository");
    expect(Object.values(preview?.env ?? {}).join(" ")).toMatch(/secrets\.PULUMI_ACCESS_TOKEN/);
    for (const job of Object.values(workflow.jobs))
      for (const step of job.steps)
        if (step.uses) expect(step.uses, step.uses).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
    for (const step of [...(review?.steps ?? []), ...(preview?.steps ?? [])])
      if (step.uses?.startsWith("actions/checkout@")) expect(step.with?.["persist-credentials"]).toBe(false);
  });

  it("runs pulumi preview with the base pack and the base pack's levels, only when credentials exist", () => {
    const step = preview?.steps.find((s) => s.uses?.startsWith("pulumi/actions@"));
    expect(step?.if).toMatch(/PULUMI_ACCESS_TOKEN != ''.*PULUMI_BACKEND_URL != ''.*policy-config\.json/);
    expect(step?.with).toMatchObject({
      command: "preview",
      "stack-name": "${{ matrix.stack }}",
      "work-dir": "review",
      policyPacks: "review/policies",
      policyPackConfigs: "out/${{ matrix.stack }}/policy-config.json",
    });
  });
});
