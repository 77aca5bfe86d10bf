// The backup renderers against the tools that read their output: shellcheck for every script,
// systemd-analyze for the units, bash for the quoting of the settings file.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  backupConf,
  backupInstallScript,
  backupSecretsScript,
  backupTool,
  backupUnits,
  restoreTool,
} from "../render/backup";
import { shellQuote } from "../render/shell";
import { offsiteBackupInput } from "./fixtures";
import { run } from "./support/exec";
import { systemdVerify } from "./support/systemd";
import { requireTool } from "./tools";

const input = offsiteBackupInput();
const SECRETS = { resticPassword: "restic-pass-1234", accessKeyId: "AKIAEXAMPLE", secretAccessKey: "it's/secret+key" };

const dir = mkdtempSync(join(tmpdir(), "mailstack-backup-render-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function shellcheck(name: string, content: string): Promise<string> {
  requireTool("shellcheck");
  const result = await run("shellcheck", ["-S", "style", "-s", "bash", "-"], { input: content });
  return result.status === 0 ? "" : `${name}:\n${result.stdout}`;
}

describe("backup scripts", () => {
  it("pass shellcheck: the tools, the install script and the secrets script", async () => {
    const scripts: [string, string][] = [
      ["mailstack-backup", backupTool()],
      ["mailstack-restore", restoreTool()],
      ["backup-install", backupInstallScript(input).content],
      ["backup-secrets", backupSecretsScript(input, SECRETS).content],
    ];
    const findings = await Promise.all(scripts.map(([name, content]) => shellcheck(name, content)));
    expect(findings.filter(Boolean)).toEqual([]);
  });

  it("keep secrets out of the settings file and the install script", () => {
    for (const text of [backupConf(input), backupInstallScript(input).content]) {
      for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
    }
    const secrets = backupSecretsScript(input, SECRETS);
    const credentials = secrets.files.find((file) => file.path === input.paths.credentialsFile);
    expect(credentials?.mode).toBe("0600");
    expect(credentials?.content).toContain("AWS_SECRET_ACCESS_KEY='it'\\''s/secret+key'");
  });

  it("are valid systemd units: nightly backup and periodic check timers, persistent across downtime", async () => {
    writeFileSync(join(dir, "mailstack-backup"), backupTool(), { mode: 0o755 });
    const units = backupUnits(input, dir);
    const result = await systemdVerify(dir, units);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const timer = units.find((unit) => unit.name === "mailstack-backup.timer")?.content ?? "";
    expect(timer).toContain("OnCalendar=*-*-* 03:30");
    expect(timer).toContain("Persistent=true");
    expect(units.find((unit) => unit.name === "mailstack-backup-check.service")?.content).toContain(
      `ExecStart=${dir}/mailstack-backup check`,
    );
  });

  it("write settings that bash reads back exactly", async () => {
    requireTool("bash");
    const conf = join(dir, "backup.conf");
    writeFileSync(conf, backupConf({ ...input, repository: "s3:https://s3.example.com/b/it's $HOME `x`" }));
    const result = await run("bash", [
      "-c",
      '. "$1"; printf "%s|%s|%s" "$RESTIC_REPOSITORY" "$KEEP_YEARLY" "$BACKUP_HOST"',
      "bash",
      conf,
    ]);
    expect(result.stdout).toBe("s3:https://s3.example.com/b/it's $HOME `x`|1|mail.example.org");
  });

  it("quote any one-line value so that bash reads it unchanged", async () => {
    requireTool("bash");
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: "grapheme", maxLength: 40 }).filter((s) => !/[\n\r\0]/.test(s)),
        async (value) => {
          const result = await run("bash", ["-c", `x=${shellQuote(value)}; printf '%s' "$x"`]);
          expect(result.stdout).toBe(value);
        },
      ),
      { numRuns: 40 },
    );
    expect(() => shellQuote("two\nlines")).toThrow(/one line/);
  });
});
