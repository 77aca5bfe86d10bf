// `npm run verify -- (--stack <name> | --outputs <file>) [options]`: checks a deployed mail stack
// from outside the way internet.nl does (see options.ts for the options). Exit codes: 0 nothing
// failed, 1 a check failed (or verify itself broke), 2 bad usage or unreadable outputs.
import { execFile } from "node:child_process";
import { getServers } from "node:dns";
import { existsSync, readFileSync } from "node:fs";
import { DnsClient } from "./dns/client";
import { DEFAULT_TRUST_ANCHOR_FILE, readTrustAnchors, Validator } from "./dns/dnssec";
import { nodeStyleResolver } from "./dns/resolver";
import { createContext } from "./context";
import { Connector } from "./net";
import { parseHostPort, parseOptions, UsageError, USAGE, type VerifyOptions } from "./options";
import { OutputsError, parseOutputsText, type Target } from "./outputs";
import { prometheusReport, textReport, writeAtomically } from "./report";
import { runChecks } from "./run";

class StopError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function stackOutputs(stack: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "pulumi",
      ["stack", "output", "--json", "--stack", stack],
      { maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) resolve(stdout);
        else if ((error as NodeJS.ErrnoException).code === "ENOENT") {
          reject(
            new StopError(
              2,
              "the Pulumi CLI (pulumi) is not on PATH: install it, or save the outputs with `pulumi stack output --json --stack " +
                `${stack} > outputs.json\` and pass --outputs outputs.json`,
            ),
          );
        } else
          reject(
            new StopError(2, `pulumi stack output --json --stack ${stack} failed: ${stderr.trim() || error.message}`),
          );
      },
    );
  });
}

function readFile(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new StopError(
      2,
      `cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

async function loadTarget(options: VerifyOptions): Promise<Target> {
  try {
    if (options.outputs !== undefined)
      return parseOutputsText(readFile(options.outputs, "the outputs file"), options.outputs);
    const stack = options.stack ?? "";
    return parseOutputsText(await stackOutputs(stack), `the outputs of stack ${stack}`);
  } catch (error) {
    if (error instanceof OutputsError) throw new StopError(2, error.message);
    throw error;
  }
}

function systemResolver(): { host: string; port: number } {
  const server = getServers()[0];
  if (!server) throw new StopError(2, "the system has no DNS resolver configured: pass --resolver HOST[:PORT]");
  const parsed = parseHostPort(server, "the system resolver");
  return { host: parsed.host, port: parsed.port ?? 53 };
}

function readCa(file: string): string[] {
  const text = readFile(file, "the CA file");
  const certificates = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (certificates.length === 0) throw new StopError(2, `--ca ${file} holds no PEM certificate`);
  return certificates;
}

async function main(argv: readonly string[]): Promise<number> {
  let options: VerifyOptions;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`verify: ${error.message}\n(npm run verify -- --help shows the options)\n`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const now = new Date();
  let target: Target | undefined;
  try {
    target = await loadTarget(options);
    const anchorFile =
      options.trustAnchor ?? (existsSync(DEFAULT_TRUST_ANCHOR_FILE) ? DEFAULT_TRUST_ANCHOR_FILE : undefined);
    let anchors;
    if (anchorFile !== undefined) {
      readFile(anchorFile, "the trust anchor file");
      try {
        anchors = readTrustAnchors(anchorFile);
      } catch (error) {
        throw new StopError(2, `--trust-anchor: ${(error as Error).message}`);
      }
    }
    const ca = options.ca !== undefined ? readCa(options.ca) : [];
    const dns = new DnsClient(options.resolver ?? systemResolver());
    const context = createContext({
      target,
      dns,
      ...(anchors ? { validator: new Validator(dns, anchors, now) } : {}),
      connector: new Connector(options.connect),
      ca,
      now,
      resolver: nodeStyleResolver(dns),
      ...(options.only ? { only: options.only } : {}),
    });
    const report = await runChecks(context, options.stack);
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : textReport(report, target.host.name));
    if (options.prometheus !== undefined)
      writeAtomically(options.prometheus, prometheusReport(report, target.host.name, now));
    return report.summary.fail > 0 ? 1 : 0;
  } catch (error) {
    const code = error instanceof StopError ? error.code : 1;
    const message = error instanceof StopError ? error.message : `verify broke: ${(error as Error).message}`;
    process.stderr.write(`verify: ${message}\n`);
    if (options.prometheus !== undefined) {
      try {
        writeAtomically(options.prometheus, prometheusReport(undefined, target?.host.name ?? "", now));
      } catch (writeError) {
        process.stderr.write(`verify: cannot write ${options.prometheus}: ${(writeError as Error).message}\n`);
      }
    }
    return code;
  }
}

/** Exits once stdout and stderr are flushed (sockets a server left half-open must not keep verify alive). */
function exit(code: number): void {
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
}

main(process.argv.slice(2)).then(exit, (error: unknown) => {
  process.stderr.write(`verify broke: ${error instanceof Error ? error.message : String(error)}\n`);
  exit(1);
});
