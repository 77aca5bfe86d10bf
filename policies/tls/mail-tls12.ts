// Postfix and Dovecot in mailcow accept TLS 1.2 or 1.3 only: judged on what the commands install
// (Postfix's extra.cf/openssl.cnf and Dovecot's extra.conf, decoded from the install scripts). No
// command may write a weaker minimum, and where a command installs mailcow (mailcow.conf), commands
// must set both minimums: mailcow's own defaults still accept TLS 1.0.
import { RULES } from "../../common/policy-catalog";
import { TYPES, commandScripts, envValues, unknownProps, scriptUnknown, stackRule } from "../lib";

const ALLOWED = ["1.2", "1.3"];

/** Settings that name a TLS minimum, and the version each one sets. */
const MINIMUMS = [
  /^\s*(smtpd?_tls(?:_mandatory)?_protocols)\s*=\s*>=\s*TLSv(1(?:\.\d)?)\s*$/gm,
  /^\s*(ssl_min_protocol)\s*=\s*TLSv(1(?:\.\d)?)\s*$/gm,
  /^\s*(MinProtocol)\s*=\s*TLSv(1(?:\.\d)?)\s*$/gm,
];

/** The minimums mailcow needs set, by what they protect. */
const REQUIRED: readonly { readonly setting: string; readonly what: string }[] = [
  { setting: "smtpd_tls_protocols", what: "Postfix (SMTP, opportunistic TLS)" },
  { setting: "smtpd_tls_mandatory_protocols", what: "Postfix (submission, mandatory TLS)" },
  { setting: "ssl_min_protocol", what: "Dovecot (IMAP, POP3)" },
];

function minimums(script: string): { setting: string; version: string }[] {
  return MINIMUMS.flatMap((pattern) =>
    [...script.matchAll(pattern)].map(([, setting = "?", version = ""]) => ({
      setting,
      version: version === "1" ? "1.0" : version,
    })),
  );
}

/** The TLS minimums a script writes below 1.2, as "setting = version". */
export function weakTlsMinimums(script: string): string[] {
  return minimums(script)
    .filter((m) => !ALLOWED.includes(m.version))
    .map((m) => `${m.setting} = TLSv${m.version}`);
}

export const mailTls12 = stackRule(RULES.mailTls, {
  description:
    "mailcow's Postfix and Dovecot must refuse TLS below 1.2 (BSI TR-02102-2, internet.nl): the commands that install mailcow set both minimums, none weaker.",
  remediationSteps:
    'Set mailstack:tlsMinVersion to "1.2" or "1.3" and keep the bring-up steps that install Postfix\'s extra.cf and Dovecot\'s extra.conf.',
  validateStack: (args, report) => {
    const commands = args.resources.filter((r) => r.type === TYPES.command);
    const set = new Set<string>();
    let mailcowConf: string | undefined;
    for (const command of commands) {
      const scripts = commandScripts(unknownProps(command));
      const weak = [...new Set(scripts.flatMap(weakTlsMinimums))];
      if (weak.length > 0)
        report(
          `${command.name} configures mailcow with ${weak.join(", ")}: render the files from mailstack:tlsMinVersion "1.2" or "1.3"`,
          command.urn,
        );
      for (const m of scripts.flatMap(minimums)) if (ALLOWED.includes(m.version)) set.add(m.setting);
      if (scripts.some((script) => envValues(script, "MAILCOW_HOSTNAME").length > 0)) mailcowConf ??= command.urn;
    }
    // A script only the apply knows may set them: judged again then.
    if (mailcowConf === undefined || commands.some(scriptUnknown)) return;
    for (const { setting, what } of REQUIRED.filter((r) => !set.has(r.setting)))
      report(
        `mailcow is installed but no command sets ${setting} for ${what}, so mailcow's default (TLS 1.0) applies: keep the step that installs it from mailstack:tlsMinVersion`,
        mailcowConf,
      );
  },
});
