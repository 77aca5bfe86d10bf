// The Proxmox node's PBS backup collector (render/scripts/pve-backup-metrics.sh) run for real
// against a stand-in pvesh answering with task-archive fixtures (test/lab-fixtures/monitoring-pvesh.sh):
// a failed vzdump of the mail VM becomes mailstack_backup_last_run_success 0 with its error (what
// MailBackupFailed fires on), the age comes from the newest good run on any online node, and the
// removal program the delete runs takes the stack's collector off the node again.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pveBackupCollector, pveMonitoringDelete, pveMonitoringFiles } from "../render/monitoring-host";
import { run, runOk } from "./support/exec";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-pve-metrics-"));
const fixtures = join(dir, "fixtures");
const bin = join(dir, "bin");
const textfileDir = join(dir, "textfile");
const input = { stack: "prod", mailHost: "mail.xd-cloud.de", vmid: 104, listenAddress: "10.3.0.2" };
const PROM = "mailstack-prod-pve-backup-metrics.prom";

const task = (node: string, start: number, status: string | undefined) => ({
  upid: `UPID:${node}:000A1B2C:0F00BA12:${start.toString(16).toUpperCase()}:vzdump:104:root@pam:`,
  node,
  type: "vzdump",
  id: "104",
  user: "root@pam",
  starttime: start,
  ...(status === undefined ? {} : { endtime: start + 600, status }),
});

async function collect(): Promise<string> {
  writeFileSync(join(dir, "collector"), pveBackupCollector(input, { textfileDir, stateDir: join(dir, "state") }));
  const result = await run("bash", [join(dir, "collector")], {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, FIXTURES: fixtures },
  });
  expect(result.status, result.stderr).toBe(0);
  return readFileSync(join(textfileDir, PROM), "utf8");
}

beforeAll(async () => {
  requireTool("jq");
  requireTool("promtool");
  for (const sub of [fixtures, bin, textfileDir]) mkdirSync(sub, { recursive: true });
  await runOk("ln", ["-s", join(__dirname, "lab-fixtures", "monitoring-pvesh.sh"), join(bin, "pvesh")]);
  writeFileSync(
    join(fixtures, "nodes.json"),
    JSON.stringify([
      { node: "pve", status: "online" },
      { node: "pve2", status: "online" },
      { node: "pve3", status: "offline" },
    ]),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const labels = 'stack="prod",mail_host="mail.xd-cloud.de",kind="pbs",vmid="104"';

describe("the PBS backup collector on the Proxmox node", () => {
  it("reports the last vzdump's failure with its error, and the last good one's time from any node", async () => {
    // The VM moved: its last good backup ran on pve2, the newest (failed) one on pve; one still runs.
    writeFileSync(
      join(fixtures, "tasks-pve.json"),
      JSON.stringify([task("pve", 1_800_090_000, "job errors"), task("pve", 1_800_100_000, undefined)]),
    );
    writeFileSync(
      join(fixtures, "tasks-pve2.json"),
      JSON.stringify([task("pve2", 1_800_000_000, "WARNINGS: 1"), task("pve2", 1_799_900_000, "OK")]),
    );
    const text = await collect();
    const check = await run("promtool", ["check", "metrics"], { input: text });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(text).toContain(`mailstack_backup_last_run_success{${labels},error="job errors"} 0\n`);
    expect(text).toContain(`mailstack_backup_last_run_timestamp_seconds{${labels}} ${1_800_090_000 + 600}\n`);
    expect(text).toContain(`mailstack_backup_last_success_timestamp_seconds{${labels}} ${1_800_000_000 + 600}\n`);
    expect(text).toContain('section="pbs"} 1\n');
    // Only online nodes are asked, each for this VM's vzdump tasks.
    const calls = readFileSync(join(fixtures, "calls.log"), "utf8");
    expect(calls).toContain("pvesh get /nodes/pve/tasks --typefilter vzdump --vmid 104");
    expect(calls).not.toContain("/nodes/pve3/");
  });

  it("reports success once the newest run is good, and no success at all before the first", async () => {
    writeFileSync(join(fixtures, "tasks-pve.json"), JSON.stringify([task("pve", 1_800_200_000, "OK")]));
    expect(await collect()).toContain(`mailstack_backup_last_run_success{${labels}} 1\n`);
    writeFileSync(join(fixtures, "tasks-pve.json"), "[]");
    writeFileSync(join(fixtures, "tasks-pve2.json"), "[]");
    const text = await collect();
    expect(text).toContain(`mailstack_backup_last_success_timestamp_seconds{${labels}} 0\n`);
    expect(text).not.toContain("mailstack_backup_last_run_success");
  });

  it("says when it cannot read a node's task archive instead of reporting no backups", async () => {
    rmSync(join(fixtures, "tasks-pve2.json"));
    expect(await collect()).toContain('section="pbs"} 0\n');
  });

  it("installs a removal program that the delete runs, which takes every file of the stack away", () => {
    const files = pveMonitoringFiles(input);
    const remover = files.find((file) => file.path === pveMonitoringDelete("prod"));
    expect(remover?.mode).toBe("0755");
    for (const file of files.filter((f) => !f.path.includes("node-exporter.service.d")))
      expect(remover?.content, file.path).toContain(`'${file.path}'`);
    // node_exporter's drop-in stays: another stack on the node may use it.
    expect(remover?.content).not.toContain("prometheus-node-exporter");
  });
});
