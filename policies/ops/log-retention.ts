// The mail host keeps its logs for a bounded time and size, within the retention policy's legal
// bounds (GDPR art. 5(1)(e): no longer than necessary; and at least what the operator must keep),
// and Docker's local copy of the containers' logs is bounded too. Judges MailcowVm's inputs (the
// legal bounds are only there) and, where the engine sends no component inputs, what the host runs:
// journald's drop-in of the logging step (render/scripts/logging.sh JOURNALD_CONF_B64) and Docker's
// daemon.json of the docker step (render/scripts/docker.sh DAEMON_JSON_B64).
import { RULES } from "../../common/policy-catalog";
import {
  TYPES,
  asRecord,
  fromBase64,
  hasInputs,
  hostConfigTexts,
  isKnown,
  isScript,
  readUnlessUnknown,
  unknownProps,
  resourceRule,
  scriptSettings,
} from "../lib";

const positive = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value) && value > 0;

/** A journald.conf value (the last assignment wins, as in systemd's parser), or undefined. */
function journaldValue(conf: string, key: string): string | undefined {
  return [...conf.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => (m[1] ?? "").trim()).pop();
}

/**
 * Why a host's journal or Docker's log copy is unbounded, from the scripts that set them up.
 * journald: MaxRetentionSec and SystemMaxUse set and not 0 (systemd's journald.conf(5): 0 turns
 * the time bound off; an empty SystemMaxUse falls back to a share of the file system). Docker,
 * read in moby/moby@docker-v29.7.2-150-gb985e2313a: daemon/config/config.go (DefaultLogDriver
 * "json-file"), daemon/logger/jsonfilelog/jsonfilelog.go (capval -1, i.e. unbounded, unless
 * max-size is set), daemon/logger/local/local.go (defaults 20 MiB × 5 files, compressed) and
 * daemon/logger/loggerutils/cache/local_cache.go (the journald driver's dual-logging cache is the
 * local driver, so it has the same bound).
 */
function unboundedLogs(script: string): string[] {
  const settings = scriptSettings(script);
  const problems: string[] = [];
  if (isScript(script, "logging")) {
    const conf = fromBase64(settings.JOURNALD_CONF_B64);
    for (const key of ["MaxRetentionSec", "SystemMaxUse"]) {
      const value = journaldValue(conf, key);
      if (value === undefined || value === "" || /^0+[a-z]*$/i.test(value))
        problems.push(`its journal has no ${key}: keep mailstack:logging.retention set`);
    }
  }
  if (isScript(script, "docker")) {
    let daemon: Record<string, unknown> = {};
    try {
      daemon = asRecord(JSON.parse(fromBase64(settings.DAEMON_JSON_B64)));
    } catch {
      daemon = {};
    }
    const driver = typeof daemon["log-driver"] === "string" ? daemon["log-driver"] : "json-file";
    const bounded = driver !== "json-file" || asRecord(daemon["log-opts"])["max-size"] !== undefined;
    if (!bounded) problems.push("Docker keeps its container logs unbounded: keep mailstack:logging.containerCache set");
  }
  return problems;
}

export const logRetention = resourceRule(RULES.logRetention, {
  description:
    "The mail host's journal has a retention in days within the retention policy's bounds and a size bound; Docker's log cache is bounded.",
  remediationSteps:
    "Set mailstack:logging.retention.days between legalMinDays and legalMaxDays, and keep maxSizeMiB and containerCache set.",
  validateResource: (args, report) => {
    if (args.type === TYPES.command || args.type === TYPES.snippet) {
      for (const problem of new Set(hostConfigTexts(args).flatMap(unboundedLogs))) report(`${args.name}: ${problem}`);
      return;
    }
    if (args.type !== TYPES.mailcowVm || !hasInputs(args)) return;
    const logging = readUnlessUnknown(() => asRecord(unknownProps(args).logging));
    const bounds = readUnlessUnknown(() => asRecord(unknownProps(args).logRetentionPolicy));
    if (!isKnown(logging) || !isKnown(bounds)) return;
    const { days, maxSizeMiB } = asRecord(logging.retention);
    const cache = asRecord(logging.containerCache);
    if (!positive(days) || !positive(maxSizeMiB)) {
      report(`${args.name} keeps its journal without a bound in days and size: set mailstack:logging.retention`);
    } else if (!positive(bounds.minDays) || !positive(bounds.maxDays)) {
      report(
        `${args.name} has no retention policy to keep its logs within: set mailstack:logging.retention.legalMinDays/legalMaxDays`,
      );
    } else if (days < bounds.minDays || days > bounds.maxDays) {
      report(
        `${args.name} keeps its journal ${days} days, outside the retention policy's ${bounds.minDays} to ${bounds.maxDays} days: set mailstack:logging.retention.days within them`,
      );
    }
    if (!positive(cache.maxSizeMiB) || !positive(cache.maxFiles))
      report(`${args.name} keeps Docker's container logs unbounded: set mailstack:logging.containerCache`);
  },
});
