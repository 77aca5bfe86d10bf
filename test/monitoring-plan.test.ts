// What the plan renders for monitoring, checked by the real tools: the prod stack's Prometheus
// configuration and rules (promtool check config, which loads the rules file next to it),
// Alertmanager's routing (amtool check-config), the VM's blackbox modules (blackbox_exporter
// --config.check), the Grafana dashboard; and a stack without any monitoring backend (staging)
// still gets the files for the operator's own Prometheus, with the exporters on loopback only.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { PlanResult } from "../plan/run";
import { MONITORING_FILES } from "../render/monitoring-plan";
import { run } from "./support/exec";
import { planWithKeys } from "./plans";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-monitoring-plan-"));
let prod: PlanResult;
let staging: PlanResult;

const file = (plan: PlanResult, path: string): string => {
  const found = plan.files.find((f) => f.path === path);
  if (!found) throw new Error(`the plan has no ${path}`);
  return found.content;
};

/** Writes the plan's files below `dir/<stack>/` (as out/<stack>/ has them). */
function writeOut(plan: PlanResult, stack: string): string {
  const base = join(dir, stack);
  for (const f of plan.files.filter((entry) => entry.path.startsWith("files/"))) {
    mkdirSync(dirname(join(base, f.path)), { recursive: true });
    writeFileSync(join(base, f.path), f.content);
  }
  return base;
}

beforeAll(async () => {
  for (const tool of ["promtool", "amtool", "prometheus-blackbox-exporter"]) requireTool(tool);
  prod = (await planWithKeys()).result;
  staging = (await planWithKeys({}, { stack: "staging" })).result;
}, 600_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the plan's monitoring files", () => {
  it("are a valid Prometheus configuration and rules, Alertmanager routing and blackbox modules", async () => {
    const base = writeOut(prod, "prod");
    const config = await run("promtool", ["check", "config", join(base, MONITORING_FILES.prometheus)]);
    expect(config.status, config.stdout + config.stderr).toBe(0);
    expect(config.stdout + config.stderr).toMatch(/SUCCESS: \d+ rules found/);
    const alertmanager = await run("amtool", ["check-config", join(base, MONITORING_FILES.alertmanager)]);
    expect(alertmanager.status, alertmanager.stdout + alertmanager.stderr).toBe(0);
    const blackbox = prod.files.find((f) => /^files\/[^/]+\/etc\/prometheus\/mailstack-blackbox\.yml$/.test(f.path));
    expect(blackbox, "the VM's blackbox modules").toBeDefined();
    const check = await run("prometheus-blackbox-exporter", [
      "--config.check",
      `--config.file=${join(base, blackbox?.path ?? "")}`,
    ]);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const dashboard = JSON.parse(file(prod, MONITORING_FILES.dashboard)) as { title?: string; panels?: unknown[] };
    expect(dashboard.panels?.length).toBeGreaterThan(0);
  });

  it("probe every public endpoint of prod and send alerts to its Alertmanager", () => {
    const config = parse(file(prod, MONITORING_FILES.prometheus)) as {
      alerting?: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
      scrape_configs: { job_name: string; static_configs: { targets: string[]; labels: Record<string, string> }[] }[];
    };
    expect(config.alerting?.alertmanagers[0]?.static_configs[0]?.targets).toEqual(["10.3.5.10:9093"]);
    const probed = config.scrape_configs
      .filter((job) => job.job_name.includes("-probe-") && job.job_name.endsWith("-ip4"))
      .flatMap((job) => job.static_configs.flatMap((c) => c.targets));
    for (const target of [
      "mail.xd-cloud.de:25",
      "mail.xd-cloud.de:465",
      "mail.xd-cloud.de:587",
      "mail.xd-cloud.de:993",
      "mail.xd-cloud.de:995",
      "https://mail.xd-cloud.de/",
      "https://mta-sts.xd-cloud.de/.well-known/mta-sts.txt",
    ])
      expect(probed, target).toContain(target);
    // The exporters are scraped on the VM's LAN address (prod has scrape networks).
    const node = config.scrape_configs.find((job) => job.job_name === "mailstack-prod-node");
    expect(node?.static_configs[0]?.targets).toEqual(["10.3.0.4:9100"]);
    expect(file(prod, MONITORING_FILES.alertmanager)).toContain("to: admin@xd-cloud.de");
  });

  it("exist without a monitoring backend, with the exporters on loopback only (staging)", async () => {
    const base = writeOut(staging, "staging");
    const config = await run("promtool", ["check", "config", join(base, MONITORING_FILES.prometheus)]);
    expect(config.status, config.stdout + config.stderr).toBe(0);
    const parsed = parse(file(staging, MONITORING_FILES.prometheus)) as {
      alerting?: unknown;
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    expect(parsed.alerting).toBeUndefined();
    const node = parsed.scrape_configs.find((job) => job.job_name === "mailstack-staging-node");
    expect(node?.static_configs[0]?.targets[0]).toMatch(/^127\.0\.0\.1:9100$/);
    const dropIn = staging.files.find((f) =>
      f.path.endsWith("/etc/systemd/system/prometheus-node-exporter.service.d/mailstack.conf"),
    );
    expect(dropIn?.content).toContain("--web.listen-address=127.0.0.1:9100");
    // No pfSense rule for monitoring without scrape networks.
    expect(file(staging, "firewall.json")).not.toContain("monitoring");
  });
});
