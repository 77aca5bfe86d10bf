// The report as text (for a terminal), JSON (--json) and the Prometheus text format for
// node_exporter's textfile collector (--prometheus), written atomically as the collector needs.
import { renameSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { CATEGORIES, subjectText, type Report, type Result, type Status } from "./result";

const LABEL = { pass: "PASS", warn: "WARN", fail: "FAIL" } as const;

export function textReport(report: Report, host: string): string {
  const { summary } = report;
  const lines = [
    `mailstack verify: ${host}: ${report.results.length} checks, ${summary.pass} pass, ${summary.warn} warn, ${summary.fail} fail (${(report.durationMs / 1000).toFixed(1)} s)`,
  ];
  for (const category of CATEGORIES) {
    const results = report.results.filter((result) => result.category === category);
    if (results.length === 0) continue;
    lines.push("", category);
    for (const result of results) {
      lines.push(`  ${LABEL[result.status]} ${subjectText(result)}  ${result.message}`);
      if (result.fix && result.status !== "pass") lines.push(`       fix: ${result.fix}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

const STATUS_VALUE: Readonly<Record<Status, number>> = { pass: 0, warn: 1, fail: 2 };

function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labels(values: Readonly<Record<string, string>>): string {
  return `{${Object.entries(values)
    .map(([name, value]) => `${name}="${label(value)}"`)
    .join(",")}}`;
}

/** The metrics; every series carries mail_host so that several stacks can share one textfile directory. */
export function prometheusReport(report: Report | undefined, host: string, now: Date): string {
  const base = { mail_host: host };
  const lines: string[] = [];
  const metric = (name: string, help: string, samples: readonly [Record<string, string>, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [values, value] of samples) lines.push(`${name}${labels({ ...base, ...values })} ${value}`);
  };
  metric("mailstack_verify_up", "Whether verify could run its checks (0: bad usage or unreadable outputs).", [
    [{}, report ? 1 : 0],
  ]);
  metric("mailstack_verify_last_run_timestamp_seconds", "When verify last ran.", [
    [{}, Math.floor(now.getTime() / 1000)],
  ]);
  if (report) {
    metric("mailstack_verify_success", "1 when no check failed.", [[{}, report.summary.fail === 0 ? 1 : 0]]);
    metric("mailstack_verify_duration_seconds", "How long the run took.", [[{}, report.durationMs / 1000]]);
    metric(
      "mailstack_verify_results",
      "Number of results by category and status.",
      CATEGORIES.flatMap((category) =>
        (["pass", "warn", "fail"] as const).map((status): [Record<string, string>, number] => [
          { category, status },
          report.results.filter((r) => r.category === category && r.status === status).length,
        ]),
      ),
    );
    // One series per check and subject; duplicates (several findings of one check) keep the worst.
    const series = new Map<string, [Record<string, string>, number]>();
    for (const result of report.results) {
      const values = {
        category: result.category,
        check: result.check,
        domain: result.domain ?? "",
        host: result.host ?? "",
        port: result.port === undefined ? "" : String(result.port),
        address: result.address ?? "",
      };
      const key = JSON.stringify(values);
      const value = STATUS_VALUE[result.status];
      const known = series.get(key);
      if (!known || known[1] < value) series.set(key, [values, value]);
    }
    metric("mailstack_verify_check_status", "Result of one check: 0 pass, 1 warn, 2 fail.", [...series.values()]);
    const expiry = new Map<string, [Record<string, string>, number]>();
    for (const result of report.results) {
      const notAfter = result.check === "certificate-expiry" ? result.details?.notAfter : undefined;
      if (typeof notAfter !== "string") continue;
      const values = { host: result.host ?? "", port: String(result.port ?? ""), address: result.address ?? "" };
      expiry.set(JSON.stringify(values), [values, Math.floor(new Date(notAfter).getTime() / 1000)]);
    }
    metric(
      "mailstack_verify_certificate_expiry_timestamp_seconds",
      "When the certificate an endpoint presents expires.",
      [...expiry.values()],
    );
  }
  return `${lines.join("\n")}\n`;
}

/** Writes next to the target and renames, so the collector never reads a half-written file. */
export function writeAtomically(file: string, content: string): void {
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(temporary, content, { mode: 0o644 });
  renameSync(temporary, file);
}

export function sortResults(results: readonly Result[]): Result[] {
  return [...results].sort((a, b) => CATEGORIES.indexOf(a.category) - CATEGORIES.indexOf(b.category));
}
