// The mail host's logs leave it for a collector (syslog over TLS, the CA pinned), or the stack
// declares in writing why they stay local (mailstack:logging.localOnly.reason). Judges MailcowVm's
// inputs and, where the engine sends no component inputs, what the host runs: the logging step's
// settings (render/scripts/logging.sh FORWARD, COLLECTOR, CA_PEM_B64, LOCAL_ONLY_REASON).
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

const stringOf = (value: unknown) => (typeof value === "string" ? value : "");

/** What a logging step's script says: forwarded over TLS with a pinned CA, or local with a reason. */
function scriptShipsOrSaysWhy(script: string): boolean {
  const settings = scriptSettings(script);
  const forwarded =
    settings.FORWARD === "1" &&
    (settings.COLLECTOR ?? "") !== "" &&
    fromBase64(settings.CA_PEM_B64).includes("BEGIN CERTIFICATE");
  return forwarded || (settings.LOCAL_ONLY_REASON ?? "").trim() !== "";
}

export const logShipping = resourceRule(RULES.logShipping, {
  description:
    "The mail host forwards its journal (host and mailcow containers) to a collector, or declares local-only logs with a reason.",
  remediationSteps:
    "Configure mailstack:logging.forward (host, caCertificate), or mailstack:logging.localOnly.reason saying why logs stay on the host.",
  validateResource: (args, report) => {
    if (args.type === TYPES.command || args.type === TYPES.snippet) {
      const scripts = hostConfigTexts(args).filter((text) => isScript(text, "logging"));
      if (scripts.some((script) => !scriptShipsOrSaysWhy(script)))
        report(
          `${args.name} runs the logging step without a collector and without a reason: configure mailstack:logging.forward or mailstack:logging.localOnly.reason`,
        );
      return;
    }
    if (args.type !== TYPES.mailcowVm || !hasInputs(args)) return;
    const logging = readUnlessUnknown(() => asRecord(unknownProps(args).logging));
    if (!isKnown(logging)) return;
    const forward = asRecord(logging.forward);
    const forwarded = stringOf(forward.host) !== "" && stringOf(forward.caCertificate).includes("BEGIN CERTIFICATE");
    if (!forwarded && stringOf(logging.localOnlyReason).trim() === "")
      report(
        `${args.name} neither ships its logs nor says why not: configure mailstack:logging.forward or mailstack:logging.localOnly.reason`,
      );
  },
});
