// One verify run: all check groups concurrently, results in category order.
import { dnssecChecks } from "./checks/dnssec";
import { daneChecks } from "./checks/dane";
import { mailAuthChecks } from "./checks/mail-auth";
import { mtaStsChecks } from "./checks/mta-sts";
import { portChecks, ptrChecks } from "./checks/ports";
import { recordChecks } from "./checks/records";
import { tlsChecks } from "./checks/tls";
import type { Context } from "./context";
import { sortResults } from "./report";
import { summarize, type Report } from "./result";

export async function runChecks(context: Context, stack?: string): Promise<Report> {
  const started = Date.now();
  const groups = await Promise.all([
    dnssecChecks(context),
    recordChecks(context),
    daneChecks(context),
    tlsChecks(context),
    mtaStsChecks(context),
    mailAuthChecks(context),
    portChecks(context),
    ptrChecks(context),
  ]);
  const results = sortResults(groups.flat());
  return {
    ...(stack ? { stack } : {}),
    startedAt: context.now.toISOString(),
    durationMs: Date.now() - started,
    summary: summarize(results),
    results,
  };
}
