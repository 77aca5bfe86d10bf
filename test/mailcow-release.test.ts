// mailcow's release on the host, on real git: render/scripts/mailcow-release.sh installs a
// release from a repository laid out like mailcow-dockerized (releases are tags on master, master
// moves on past them, a nightly branch exists), and upgrades it with an update.sh that does what
// mailcow's does with git (test/lab-fixtures/mailcow-update.sh, cited lines of update.sh 2026-07a).
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderScript } from "../render/shell";
import { run, runOk } from "./support/exec";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-release-"));
const upstream = join(dir, "upstream.git");
const work = join(dir, "upstream-work");
const bin = join(dir, "bin");
const calls = join(dir, "calls");
const FIXTURES = join(__dirname, "lab-fixtures");
const commits: Record<string, string> = {};

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const git = (cwd: string, ...args: string[]) =>
  runOk(
    "git",
    ["-c", "user.name=lab", "-c", "user.email=lab@example.org", "-c", "advice.detachedHead=false", ...args],
    {
      cwd,
    },
  );

/** One release of the lab's mailcow: its update.sh, _modules, and files the containers touch. */
async function release(name: string, newOption: string, tag?: string): Promise<string> {
  mkdirSync(join(work, "_modules", "scripts"), { recursive: true });
  mkdirSync(join(work, "data", "conf", "postfix"), { recursive: true });
  mkdirSync(join(work, "data", "assets", "ssl-example"), { recursive: true });
  mkdirSync(join(work, "helper-scripts"), { recursive: true });
  copyFileSync(join(FIXTURES, "mailcow-update.sh"), join(work, "update.sh"));
  chmodSync(join(work, "update.sh"), 0o755);
  copyFileSync(join(FIXTURES, "backup_and_restore.sh"), join(work, "helper-scripts", "backup_and_restore.sh"));
  chmodSync(join(work, "helper-scripts", "backup_and_restore.sh"), 0o755);
  writeFileSync(
    join(work, "_modules", "scripts", "core.sh"),
    `# release ${name}\nlab_new_options() { grep -q '^#\\?${newOption}=' mailcow.conf || echo '${newOption}=y' >> mailcow.conf; }\n`,
  );
  writeFileSync(join(work, "data", "conf", "postfix", "main.cf"), `# main.cf of ${name}\n# Overrides #\n`);
  writeFileSync(join(work, "data", "assets", "ssl-example", "dhparams.pem"), "dhparams\n");
  writeFileSync(join(work, "docker-compose.yml"), `# ${name}\n`);
  writeFileSync(join(work, ".gitignore"), "mailcow.conf\nmailcow.conf.*\ndata/assets/ssl/\nupdate_diffs/\n");
  await git(work, "add", "-A");
  await git(work, "commit", "-qm", `release ${name}`);
  if (tag) await git(work, "tag", tag);
  const commit = (await git(work, "rev-parse", "HEAD")).trim();
  commits[name] = commit;
  return commit;
}

beforeAll(async () => {
  requireTool("git");
  mkdirSync(work);
  await git(work, "init", "-q", "-b", "master");
  await release("2026-05c", "OPTION_05C", "2026-05c");
  await release("2026-07", "OPTION_07", "2026-07");
  await release("2026-07a", "OPTION_07A", "2026-07a");
  await release("after-2026-07a", "OPTION_NEXT"); // master moves on past the last release
  await git(work, "branch", "nightly");
  await runOk("git", ["clone", "-q", "--bare", work, upstream]);
  // Stand-ins: docker records its calls; mailcow.conf is the stack's.
  mkdirSync(bin);
  writeFileSync(join(bin, "docker"), `#!/bin/sh\necho "docker $*" >> ${calls}\n`);
  chmodSync(join(bin, "docker"), 0o755);
});

const mailcowDir = (name: string) => join(dir, name);

async function releaseStep(name: string, tag: string, commit = commits[tag] ?? "", env: NodeJS.ProcessEnv = {}) {
  writeFileSync(calls, "");
  // What mailcow's backup reads (the stand-in's "Docker volumes").
  for (const volume of ["vmail", "crypt", "redis", "rspamd", "postfix", "mysql"]) {
    mkdirSync(join(dir, `${name}-volumes`, volume), { recursive: true });
    writeFileSync(join(dir, `${name}-volumes`, volume, "data"), volume);
  }
  const script = renderScript("mailcow-release", {
    MAILCOW_DIR: mailcowDir(name),
    REPOSITORY: `file://${upstream}`,
    TAG: tag,
    COMMIT: commit,
    BACKUP_DIR: join(dir, `${name}-backups`),
    OFFSITE_BACKUP_TOOL: join(dir, "no-mailstack-backup"),
  });
  const result = await run("bash", ["-s"], {
    input: script,
    env: {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? ""}`,
      GIT_CONFIG_GLOBAL: "/dev/null",
      LAB_VOLUMES: join(dir, `${name}-volumes`),
      LAB_CALL_LOG: calls,
      ...env,
    },
  });
  return { ...result, calls: readFileSync(calls, "utf8").split("\n").filter(Boolean) };
}

const head = async (name: string) => (await git(mailcowDir(name), "rev-parse", "HEAD")).trim();
const branch = async (name: string) => (await git(mailcowDir(name), "rev-parse", "--abbrev-ref", "HEAD")).trim();

/** What the stack does after the release step: its own mailcow.conf. */
function stackConf(name: string, version: string): void {
  writeFileSync(
    join(mailcowDir(name), "mailcow.conf"),
    `# for mailcow ${version}\nMAILCOW_HOSTNAME=mail.example.org\nENABLE_IPV6=true\nOPTION_05C=y\nOPTION_07=y\nOPTION_07A=y\n`,
  );
}

describe("a new host", () => {
  it("gets the pinned release on the branch master, whose upstream is that release", async () => {
    const result = await releaseStep("host", "2026-05c");
    expect(result.status, result.stderr).toBe(0);
    expect(await head("host")).toBe(commits["2026-05c"]);
    expect(await branch("host")).toBe("master");
    expect((await git(mailcowDir("host"), "rev-parse", "@{upstream}")).trim()).toBe(commits["2026-05c"]);
    // update.sh's own fetches (update.sh:43, :441) cannot move origin/master past the release.
    await git(mailcowDir("host"), "fetch", "-q", "origin", "master");
    await git(mailcowDir("host"), "fetch", "-q", "origin");
    expect((await git(mailcowDir("host"), "rev-parse", "origin/master")).trim()).toBe(commits["2026-05c"]);
    stackConf("host", "2026-05c");
  });

  it("refuses a tag that is not the pinned commit", async () => {
    const result = await releaseStep("moved", "2026-05c", commits["2026-07"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/the tag 2026-05c .* is commit [0-9a-f]{40}, not the pinned [0-9a-f]{40}: it moved/);
  });
});

describe("an upgrade", () => {
  it("takes a backup, runs mailcow's update.sh unattended and ends exactly on the requested release", async () => {
    // The postfix container rewrites the tracked main.cf (postfix.sh:479-491).
    writeFileSync(join(mailcowDir("host"), "data", "conf", "postfix", "main.cf"), "# rewritten by the container\n");
    const result = await releaseStep("host", "2026-07a");
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(await head("host")).toBe(commits["2026-07a"]); // not master's tip, not a merge commit
    expect(await branch("host")).toBe("master");
    expect(result.stdout).toContain("_modules have been updated. Please restart the update script.");
    expect(result.stdout).toMatch(/upgrading mailcow 2026-05c -> 2026-07a/);
    // The backup came first, then update.sh stopped mailcow (and did not start it: the stack does).
    const backup = result.calls.findIndex((call) => call.startsWith("backup all"));
    const down = result.calls.indexOf("docker compose down");
    expect(backup).toBeGreaterThanOrEqual(0);
    expect(down).toBeGreaterThan(backup);
    expect(result.calls).not.toContain("docker compose up -d --remove-orphans");
    expect(existsSync(join(mailcowDir("host"), "update_diffs", "mailstack-before-2026-07a.diff"))).toBe(true);
    // update.sh edited mailcow.conf; the stack writes its own next (the mailcow-conf step re-runs
    // because its content names the release), so the stack's file wins.
    const edited = readFileSync(join(mailcowDir("host"), "mailcow.conf"), "utf8");
    expect(edited).toContain("ENABLE_IPV6=false");
    stackConf("host", "2026-07a");
  });

  it("does nothing when the host is at the release", async () => {
    const result = await releaseStep("host", "2026-07a");
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain("mailcow is at 2026-07a");
    expect(result.calls).toEqual([]);
  });

  it("refuses a downgrade", async () => {
    const result = await releaseStep("host", "2026-07");
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/not an ancestor of 2026-07: a downgrade/);
    expect(await head("host")).toBe(commits["2026-07a"]);
  });

  it("puts the previous release back and starts it when update.sh fails", async () => {
    expect((await releaseStep("failing", "2026-05c")).status).toBe(0);
    stackConf("failing", "2026-05c");
    const result = await releaseStep("failing", "2026-07a", commits["2026-07a"], { LAB_UPDATE_FAIL: "1" });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/the upgrade to 2026-07a failed; restarting mailcow 2026-05c/);
    expect(await head("failing")).toBe(commits["2026-05c"]);
    expect(readFileSync(join(mailcowDir("failing"), "mailcow.conf"), "utf8")).toContain("ENABLE_IPV6=true");
    expect(result.calls).toContain("docker compose up -d --remove-orphans");
  });
});
