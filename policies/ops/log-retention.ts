// The mail host keeps its logs for a bounded time and size, within the retention policy's legal
// bounds (GDPR art. 5(1)(e): no longer than necessary; and at least what the operator must keep),
// and Docker's local copy of the containers' logs is bounded too. Reads MailcowVm's inputs.
import { RULES } from "../../common/policy-catalog";
import { TYPES, asRecord, isKnown, peek, propsOf, resourceRule, hasInputs } from "../lib";

const positive = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value) && value > 0;

export const logRetention = resourceRule(RULES.logRetention, {
  description:
    "The mail host's journal has a retention in days within the retention policy's bounds and a size bound; Docker's log cache is bounded.",
  remediationSteps:
    "Set mailstack:logging.retention.days between legalMinDays and legalMaxDays, and keep maxSizeMiB and containerCache set.",
  validateResource: (args, report) => {
    if (args.type !== TYPES.mailcowVm || !hasInputs(args)) return;
    const logging = peek(() => asRecord(propsOf(args).logging));
    const bounds = peek(() => asRecord(propsOf(args).logRetentionPolicy));
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
