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
import { backupConf, backupTool as backupToolScript, BACKUP_PATHS } from "../render/backup";
import { renderScript } from "../render/shell";
import { mailcowUpdateTool } from "../render/updates";
import { DAY2_HOST_INPUT, offsiteBackupInput } from "./fixtures";
import { run, runOk } from "./support/exec";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-release-"));
const upstream = join(dir, "upstream.git");
const work = join(dir, "upstream-work");
const bin = join(dir, "bin");
const calls = join(dir, "calls");
const FIXTURES = join(__dirname, "lab-fixtures");
const commits: Record<string, string> = {};
const RETENTION = { daily: 3, weekly: 0, monthly: 0, yearly: 0 };
const UPDATES = { ...DAY2_HOST_INPUT.updates, hostname: "mail.example.org", notifyEmail: "" };

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

describe("the release check (mailstack-mailcow-update)", () => {
  const stateDir = join(dir, "update-state");
  const metrics = join(stateDir, "textfile", "mailstack_mailcow.prom");
  const statusFile = join(stateDir, "backup.status");
  const upCalls = join(stateDir, "up.calls");
  const unattended = join(stateDir, "unattended");
  let releaseScript = "";

  /** The real mailstack-backup, reading a status file the case writes. */
  function backupTool(fresh: boolean | undefined): string {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, "restic-password"), "lab\n");
    writeFileSync(
      join(stateDir, "backup.conf"),
      backupConf({
        ...offsiteBackupInput({ repository: join(stateDir, "repo"), host: "mail.example.org", retention: RETENTION }),
        paths: { ...BACKUP_PATHS, statusFile, passwordFile: join(stateDir, "restic-password") },
      }),
    );
    if (fresh === undefined) rmSync(statusFile, { force: true });
    else {
      const epoch = Math.floor(Date.now() / 1000) - (fresh ? 3600 : 30 * 3600);
      writeFileSync(statusFile, `backup_last_result=success\nbackup_last_success_epoch=${epoch}\n`);
    }
    const path = join(stateDir, "mailstack-backup");
    writeFileSync(path, backupToolScript(), { mode: 0o755 });
    return path;
  }

  async function check(mode: "notify" | "upgrade", fresh: boolean | undefined, args: string[] = []) {
    const tool = mailcowUpdateTool(
      { ...UPDATES, mailcow: mode, mailcowRepository: `file://${upstream}`, pinnedTag: "2026-07" },
      {
        lockFile: join(stateDir, "lock"),
        rebootRequiredFile: join(stateDir, "reboot-required"),
        mailcowDir: mailcowDir("checked"),
        backupTool: backupTool(fresh),
        releaseScript,
        upScript: join(bin, "mailcow-up"),
        metricsFile: metrics,
        notifiedState: join(stateDir, "notified"),
        unattendedState: unattended,
      },
    );
    const result = await run("bash", ["-s", "--", ...args], {
      input: tool,
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH ?? ""}`,
        GIT_CONFIG_GLOBAL: "/dev/null",
        MAILSTACK_BACKUP_CONFIG: join(stateDir, "backup.conf"),
        LAB_VOLUMES: join(dir, "checked-volumes"),
        LAB_CALL_LOG: calls,
        LAB_UP_CALLS: upCalls,
      },
    });
    return { ...result, metrics: existsSync(metrics) ? readFileSync(metrics, "utf8") : "" };
  }

  beforeAll(async () => {
    // A host at 2026-07; the repository's newest release is 2026-07a.
    expect((await releaseStep("checked", "2026-07")).status).toBe(0);
    stackConf("checked", "2026-07");
    writeFileSync(join(bin, "mailcow-up"), `#!/bin/sh\necho up >> "$LAB_UP_CALLS"\n`, { mode: 0o755 });
    // The release script as the bring-up installs it (settings of the pinned release).
    releaseScript = join(stateDir, "mailstack-mailcow-release");
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(
      releaseScript,
      renderScript("mailcow-release", {
        MAILCOW_DIR: mailcowDir("checked"),
        REPOSITORY: `file://${upstream}`,
        TAG: "2026-07",
        COMMIT: commits["2026-07"] ?? "",
        BACKUP_DIR: join(dir, "checked-backups"),
        OFFSITE_BACKUP_TOOL: join(dir, "no-mailstack-backup"),
        UNATTENDED_STATE: unattended,
      }),
      { mode: 0o755 },
    );
    for (const volume of ["vmail", "crypt", "redis", "rspamd", "postfix", "mysql"]) {
      mkdirSync(join(dir, "checked-volumes", volume), { recursive: true });
      writeFileSync(join(dir, "checked-volumes", volume, "data"), volume);
    }
  });

  it("reports a newer release as a metric and changes nothing in notify mode", async () => {
    const result = await check("notify", true);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain("mailcow 2026-07a");
    expect(result.metrics).toMatch(/^mailstack_mailcow_update_available 1$/m);
    expect(result.metrics).toContain('mailstack_mailcow_release_info{running="2026-07",latest="2026-07a"} 1');
    expect(result.metrics).toMatch(/^mailstack_mailcow_auto_upgrade_enabled 0$/m);
    expect(await head("checked")).toBe(commits["2026-07"]);
  });

  it("refuses, in a dry run, to upgrade without a fresh successful backup", async () => {
    for (const fresh of [false, undefined]) {
      const result = await check("upgrade", fresh, ["--dry-run"]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/no unattended upgrade to 2026-07a without a fresh successful backup/);
      expect(result.metrics).toMatch(/^mailstack_mailcow_upgrade_blocked 1$/m);
    }
    expect(await head("checked")).toBe(commits["2026-07"]);
  });

  it("proceeds, in a dry run, with one, and changes nothing", async () => {
    const result = await check("upgrade", true, ["--dry-run"]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/dry run: the last backup is fresh; would upgrade mailcow 2026-07 -> 2026-07a/);
    expect(await head("checked")).toBe(commits["2026-07"]);
  });

  it("upgrades through the pinned-release path, and the stack's old pin then stops with the release to record", async () => {
    writeFileSync(calls, "");
    const result = await check("upgrade", true);
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(await head("checked")).toBe(commits["2026-07a"]);
    expect(readFileSync(calls, "utf8")).toMatch(/backup all/); // the release script's own backup came first
    expect(readFileSync(upCalls, "utf8")).toContain("up");
    expect(result.metrics).toContain('mailstack_mailcow_release_info{running="2026-07a",latest="2026-07a"} 1');
    expect(readFileSync(unattended, "utf8")).toContain(`commit=${commits["2026-07a"]}`);
    // The next `pulumi up` still pins 2026-07: nothing is downgraded, the operator is told what to set.
    const pinned = await run("bash", [releaseScript], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, GIT_CONFIG_GLOBAL: "/dev/null" },
    });
    expect(pinned.status).toBe(1);
    expect(pinned.stderr).toMatch(/upgraded unattended to 2026-07a .* set mailstack:mailcow.version to 2026-07a/);
    expect(await head("checked")).toBe(commits["2026-07a"]);
  });
});
