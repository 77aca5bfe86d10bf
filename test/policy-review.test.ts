// The pull request review as the workflow runs it (.github/workflows/policy.yml), driven locally:
// the scripts it runs, on a base tree (this repository) and head trees that try to weaken the
// review. The judge is the base: a head that relaxes a rule in policies/ or in its stack file is
// still refused; a head that only adds a hosted domain passes and shows that domain in the diff.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RELAXABLE_RULES, RULES } from "../common/policy-catalog";
import { run, runOk } from "./support/exec";
import { root } from "./plans";
import { requireTool } from "./tools";

const work = mkdtempSync(join(tmpdir(), `mailstack-review-${process.pid}-`));
const values = join(work, "preview-values.json");
const tsx = (dir: string, args: readonly string[]) =>
  run(process.execPath, ["--require", "tsx/cjs", "scripts/policy-review.ts", ...args], { cwd: dir });

/** A tree of this repository's tracked files (as the checkout gets them), with `edits` applied. */
async function tree(name: string, edits: Readonly<Record<string, (text: string) => string>> = {}): Promise<string> {
  const dir = join(work, name);
  const files = (await runOk("git", ["ls-files", "-z"], { cwd: root })).split("\0").filter(Boolean);
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    try {
      copyFileSync(join(root, file), join(dir, file));
    } catch {
      // deleted in the work tree: not part of the checkout
    }
  }
  for (const [file, edit] of Object.entries(edits)) {
    const path = join(dir, file);
    const before = readFileSync(path, "utf8");
    const after = edit(before);
    expect(after, `${name}: the edit of ${file} changes nothing`).not.toBe(before);
    writeFileSync(path, after);
  }
  await runOk("git", ["init", "-q"], { cwd: dir });
  await runOk("git", ["add", "-A"], { cwd: dir });
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  return dir;
}

/** The review of `head` for prod: the tree script, the plan with the base judge, the report. */
async function review(base: string, head: string, name: string) {
  const reviewTree = join(work, `${name}-review`);
  await runOk(join(base, "scripts", "policy-review-tree.sh"), [base, head, reviewTree]);
  const out = join(work, `${name}-out`);
  const plan = await tsx(reviewTree, ["plan", "--stack", "prod", "--out", out, "--values", values]);
  const comment = join(out, "review.md");
  await runOk(process.execPath, [
    "--require",
    "tsx/cjs",
    join(reviewTree, "scripts", "policy-review.ts"),
    "report",
    ...["--stack", "prod", "--base", join(work, "base-out"), "--head", out, "--out", comment],
    ...["--run-url", "https://github.example/runs/1"],
  ]);
  return { plan, reviewTree, comment: readFileSync(comment, "utf8") };
}

const stackFile = "Pulumi.prod.yaml";
/** Prod's DMARC lowered to p=none, and the stack file asking to relax every relaxable rule as "staging". */
const relaxedStackFile = (text: string) =>
  text
    .replace("mailstack:environment: production", "mailstack:environment: staging")
    .replace(/(mailstack:dmarc:\n\s+policy:) reject/, "$1 none")
    .concat(`  mailstack:policy:\n    advisory:\n${RELAXABLE_RULES.map((r) => `      - ${r}\n`).join("")}`);

/** The DMARC rule made to report nothing. */
const defangDmarc = (text: string) =>
  text.replace(
    "for (const problem of dmarcProblems(text))",
    "for (const problem of dmarcProblems(text).filter(() => false))",
  );

describe("the pull request review: the base branch judges", () => {
  let base = "";
  beforeAll(async () => {
    requireTool("git");
    base = await tree("base");
    const plan = await tsx(base, ["plan", "--stack", "prod", "--out", join(work, "base-out"), "--values", values]);
    expect(plan.status, plan.stderr).toBe(0);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("the workflow passes actionlint (with shellcheck on its run blocks)", async () => {
    requireTool("go");
    requireTool("shellcheck");
    const lint = await run(join(root, "scripts", "actionlint.sh"), [], { cwd: root });
    expect(lint.status, `${lint.stdout}${lint.stderr}`).toBe(0);
  });

  it("refuses a head that relaxes the rule in policies/ and lowers it in its stack file", async () => {
    const head = await tree("relax-pack", {
      // The head lets prod lower every relaxable rule, and defangs the DMARC rule itself.
      "common/policy-catalog.ts": (text) =>
        text.replace(
          "  staging: [",
          "  prod: [RULES.dmarc.name, RULES.mtaSts.name, RULES.offsiteBackup.name, RULES.deletionProtection.name],\n  staging: [",
        ),
      "policies/mail/dmarc.ts": defangDmarc,
      [stackFile]: relaxedStackFile,
    });
    // The head's own pack would pass it: that is what the review must not rely on.
    const own = await tsx(head, ["plan", "--stack", "prod", "--out", join(work, "relax-pack-own"), "--values", values]);
    expect(own.status, own.stderr).toBe(0);

    const { plan, comment } = await review(base, head, "relax-pack");
    // The base pack's config check refuses the relabelled stack by its name.
    expect(plan.status).toBe(2);
    expect(plan.stderr).toMatch(/mailstack:environment.*the stack "prod" is production to the policy pack/);
    expect(comment).toMatch(/invalid configuration, nothing planned/);
  });

  it("refuses a head that relaxes only through its stack file, even with the config check removed", async () => {
    const head = await tree("relax-stack-file", {
      [stackFile]: relaxedStackFile,
      // The head also drops the config's stack-name check: the base's levels still enforce.
      "config/load.ts": (text) =>
        text.replace(/problems\.push\(\.\.\.stackProblems\([^\n]*\n/, "void stackProblems;\n"),
    });
    const { plan, comment } = await review(base, head, "relax-stack-file");
    expect(plan.status, plan.stderr).toBe(3);
    expect(comment).toContain(RULES.dmarc.name);
    expect(comment).toMatch(/❌ \d+ mandatory violation/);
    expect(comment).not.toMatch(new RegExp(`Advisory in this stack:.*${RULES.dmarc.name}`));
  });

  it("passes a head that only adds a hosted domain, and lists its resources in the plan diff", async () => {
    const head = await tree("new-domain", {
      [stackFile]: (text) =>
        text.replace(
          "  mailstack:dmarc:\n",
          [
            "    - name: example-new.org",
            "      zoneId: 0123456789abcdef0123456789abcdef",
            "      nameServers: [ada.ns.cloudflare.com, bob.ns.cloudflare.com]",
            "      mailboxes:",
            "        - localPart: info",
            "          name: Info",
            "  mailstack:dmarc:\n",
          ].join("\n"),
        ),
    });
    const { plan, comment } = await review(base, head, "new-domain");
    expect(plan.status, plan.stderr).toBe(0);
    expect(comment).toMatch(/✅ no mandatory violation/);
    const added = /<summary>Added: (\d+)<\/summary>([^]*?)<\/details>/.exec(comment);
    expect(added, comment).not.toBeNull();
    expect(Number(added?.[1])).toBeGreaterThan(3);
    expect(added?.[2]).toContain("example-new.org");
    expect(comment).not.toMatch(/<summary>Removed/);
    expect(comment).toContain("Plan artefacts: [plan-prod](https://github.example/runs/1)");
  });

  it("lists the fixtures a change to policies/ judges differently", async () => {
    const head = await tree("weaker-dmarc-rule", {
      "policies/mail/dmarc.ts": defangDmarc,
    });
    const reviewTree = join(work, "weaker-dmarc-rule-review");
    await runOk(join(base, "scripts", "policy-review-tree.sh"), [base, head, reviewTree]);
    const out = join(work, "weaker-dmarc-rule-fixtures.json");
    const fixtures = await tsx(reviewTree, [
      ...["fixtures", "--stack", "prod", "--head-pack", join(head, "policies")],
      ...["--values", values, "--out", out],
    ]);
    expect(fixtures.status, fixtures.stderr).toBe(0);
    const verdicts = JSON.parse(readFileSync(out, "utf8")) as { fixture: string; base: boolean; head: boolean }[];
    expect(verdicts.length).toBeGreaterThan(20);
    expect(verdicts.filter((v) => v.base !== v.head).map((v) => v.fixture)).toEqual([`${RULES.dmarc.name}/none`]);
    const commentFile = join(work, "weaker-dmarc-rule.md");
    await runOk(process.execPath, [
      ...["--require", "tsx/cjs", join(reviewTree, "scripts", "policy-review.ts"), "report"],
      ...["--stack", "prod", "--base", join(work, "base-out"), "--head", join(work, "base-out")],
      ...["--pack-diff", out, "--out", commentFile],
    ]);
    const comment = readFileSync(commentFile, "utf8");
    expect(comment).toContain("This change edits the policy pack");
    expect(comment).toContain(`| \`${RULES.dmarc.name}/none\` | \`${RULES.dmarc.name}\` | refused | **passes** |`);
  });
});
