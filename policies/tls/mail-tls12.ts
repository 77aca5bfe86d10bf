// Postfix and Dovecot in mailcow accept TLS 1.2 or 1.3 only: the mail host's argument, and what
// the commands that install Postfix's extra.cf/openssl.cnf and Dovecot's extra.conf actually write.
import { RULES } from "../../common/policy-catalog";
import { TYPES, commandScripts, isKnown, peek, propsOf, resourceRule, text } from "../lib";

const ALLOWED = ["1.2", "1.3"];

/** Settings that name a TLS minimum, and the version each one sets. */
const MINIMUMS = [
  /^\s*(smtpd?_tls(?:_mandatory)?_protocols)\s*=\s*>=\s*TLSv(1(?:\.\d)?)\s*$/gm,
  /^\s*(ssl_min_protocol)\s*=\s*TLSv(1(?:\.\d)?)\s*$/gm,
  /^\s*(MinProtocol)\s*=\s*TLSv(1(?:\.\d)?)\s*$/gm,
];

/** The TLS minimums a script writes below 1.2, as "setting = version". */
export function weakTlsMinimums(script: string): string[] {
  return MINIMUMS.flatMap((pattern) =>
    [...script.matchAll(pattern)].flatMap(([, setting, version = ""]) => {
      const normalized = version === "1" ? "1.0" : version;
      return ALLOWED.includes(normalized) ? [] : [`${setting ?? "?"} = TLSv${normalized}`];
    }),
  );
}

export const mailTls12 = resourceRule(RULES.mailTls, {
  description: "mailcow's Postfix and Dovecot must refuse TLS below 1.2 (BSI TR-02102-2, internet.nl).",
  remediationSteps: 'Set mailstack:tlsMinVersion to "1.2" or "1.3".',
  validateResource: (args, report) => {
    if (args.type === TYPES.command) {
      const weak = commandScripts(args.props).flatMap(weakTlsMinimums);
      if (weak.length > 0)
        report(
          `this command configures mailcow with ${weak.join(", ")}: render the files from mailstack:tlsMinVersion "1.2" or "1.3"`,
        );
      return;
    }
    if (args.type !== TYPES.mailcowVm) return;
    const version = peek(() => propsOf(args).tlsMinVersion);
    if (!isKnown(version)) return;
    if (version === undefined) {
      report('the mail host declares no TLS minimum: set mailstack:tlsMinVersion to "1.2" or "1.3"');
    } else if (typeof version !== "string" || !ALLOWED.includes(version)) {
      report(`Postfix and Dovecot would accept TLS ${text(version)}: set mailstack:tlsMinVersion to "1.2" or "1.3"`);
    }
  },
});
