// Scheduled verify (mailstack:verify): the config key and its rules, the rendered files against
// the tools that read them (shellcheck, systemd-analyze, bash), and the VerifySchedule component
// under the mock engine: the bundle copied by SFTP, one install script on SSH stdin, the outputs
// it checks without a secret, nothing of it when the key is absent.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, formatProblem } from "../config/load";
import { plain, redact, type RecordedResource } from "../plan/engine";
import { isScript, scriptSettings } from "../policies/lib";
import type { PlanResult } from "../plan/run";
import {
  packBundle,
  PROMETHEUS_FILE_NAME,
  sha256,
  verifyInstallScript,
  verifySettings,
  verifyUnits,
  VERIFY_PATHS,
  type VerifyHostInput,
} from "../render/verify-schedule";
import { verifyBundle } from "../verify/bundle";
import { baseConfig, ED25519_KEY, load } from "./fixtures";
import { planWithKeys } from "./plans";
import { run, runOk } from "./support/exec";
import { systemdVerify } from "./support/systemd";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-verify-schedule-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAFxQ4sH7xsA0mCpNaqurdzKrxwnIPXhUrPRzN/599wh root@monitor";

function problems(verify: unknown): string[] {
  try {
    load({ ...baseConfig(), verify });
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map(formatProblem);
  }
}

/** A list setting of a rendered script (`readonly NAME=('a' 'b')`, values without quotes). */
function listSetting(script: string, name: string): string[] {
  const line = new RegExp(`^readonly ${name}=\\((.*)\\)$`, "m").exec(script)?.[1] ?? "";
  return [...line.matchAll(/'([^']*)'/g)].map((match) => match[1] ?? "");
}

/** The content a rendered script installs at `path` (its PATHS and CONTENTS_B64 settings). */
function installedContent(script: string, path: string): string | undefined {
  const index = listSetting(script, "PATHS").indexOf(path);
  const encoded = listSetting(script, "CONTENTS_B64")[index];
  return index < 0 || encoded === undefined ? undefined : Buffer.from(encoded, "base64").toString("utf8");
}

describe("mailstack:verify", () => {
  it("is off by default and then needs no SSH key", () => {
    expect(load(baseConfig()).config.verify).toBeUndefined();
  });

  it("fills the defaults: root, hourly, Debian's node_exporter textfile directory", () => {
    const { config } = load({ ...baseConfig(), verify: { host: "monitor.example.net", sshHostKey: HOST_KEY } });
    expect(config.verify).toEqual({
      host: "monitor.example.net",
      sshUser: "root",
      sshHostKey: HOST_KEY,
      schedule: "hourly",
      textfileDirectory: "/var/lib/prometheus/node-exporter",
    });
  });

  it("needs the verify host's SSH key as a secret", () => {
    const { verifySshPrivateKey: _, ...others } = Object.fromEntries(
      Object.entries(load(baseConfig()).secrets).map(([key, value]) => [key, value]),
    );
    let message = "";
    try {
      load({ ...baseConfig(), verify: { host: "monitor.example.net", sshHostKey: HOST_KEY } }, others);
    } catch (error) {
      message = (error as ConfigError).problems.map(formatProblem).join("\n");
    }
    expect(message).toMatch(
      /mailstack:verifySshPrivateKey: is not set: SSH private key for mailstack:verify\.host.*pulumi config set --secret mailstack:verifySshPrivateKey/,
    );
  });

  it.each([
    [
      { host: "mail.example.org", sshHostKey: HOST_KEY },
      /mailstack:verify\.host = "mail\.example\.org": verify checks what the internet sees, so it cannot run on the mail host/,
    ],
    [
      { host: "134.255.229.52", sshHostKey: HOST_KEY },
      /mailstack:verify\.host = "134\.255\.229\.52": .*cannot run on the mail host/,
    ],
    [
      { host: "10.3.0.20", sshHostKey: HOST_KEY },
      /mailstack:verify\.host = "10\.3\.0\.20": 10\.3\.0\.20 is inside 10\.3\.0\.0\/24: from there SSH .* answer/,
    ],
    [
      { host: "monitor.example.net", sshHostKey: HOST_KEY, schedule: "every hour" },
      /mailstack:verify\.schedule = "every hour": expected a systemd calendar expression/,
    ],
    [
      { host: "monitor.example.net", sshHostKey: HOST_KEY, resolver: "9.9.9.9:99999" },
      /mailstack:verify\.resolver = "9\.9\.9\.9:99999": expected a resolver .*port 99999 is out of range/,
    ],
    [{ host: "monitor.example.net", sshHostKey: "ssh-rsa AAAA" }, /mailstack:verify\.sshHostKey/],
    [
      { host: "monitor.example.net", sshHostKey: HOST_KEY, textfileDirectory: "textfiles" },
      /mailstack:verify\.textfileDirectory = "textfiles": expected an absolute directory path/,
    ],
    [
      { hots: "monitor.example.net", sshHostKey: HOST_KEY },
      /mailstack:verify\.hots: unknown setting \(did you mean host\?\)/,
    ],
  ])("%j is refused with a message naming the key", (verify, message) => {
    expect(problems(verify).join("\n")).toMatch(message);
  });

  it("accepts an IPv6 resolver and a host outside the admin networks", () => {
    expect(problems({ host: "2001:db8:1::5", sshHostKey: HOST_KEY, resolver: "[2620:fe::fe]:53" })).toEqual([]);
    expect(problems({ host: "monitor.example.net", sshHostKey: ED25519_KEY, resolver: "2620:fe::fe" })).toEqual([]);
  });
});

const input: VerifyHostInput = { sshUser: "monitor", schedule: "hourly", textfileDirectory: join(dir, "textfile") };

describe("the rendered verify host files", () => {
  it("install script passes shellcheck and carries the outputs, the digest and the settings", async () => {
    requireTool("shellcheck");
    const content = verifyInstallScript(
      input,
      '{"mailHost":{"hostname":"mail.example.org"}}',
      sha256("bundle"),
    ).content;
    const file = join(dir, "verify-install");
    writeFileSync(file, content);
    const result = await run("shellcheck", ["-s", "bash", file]);
    expect(result.stdout + result.stderr).toBe("");
    expect(isScript(content, "verify-install")).toBe(true);
    expect(installedContent(content, VERIFY_PATHS.outputs)).toBe('{"mailHost":{"hostname":"mail.example.org"}}\n');
    expect(installedContent(content, VERIFY_PATHS.wrapper)).toMatch(/^#!\/bin\/bash\n/);
    expect(scriptSettings(content)).toMatchObject({
      VERIFY_PACKED_SHA256: sha256("bundle"),
      VERIFY_SSH_USER: "monitor",
      VERIFY_STAGED: VERIFY_PATHS.staged,
    });
    expect(content).toContain("systemctl enable --now mailstack-verify.timer");
  });

  it("units are valid for systemd: an hourly persistent timer, a sandboxed oneshot that may exit 1", async () => {
    const wrapper = join(dir, "mailstack-verify");
    writeFileSync(wrapper, "#!/bin/sh\n", { mode: 0o755 });
    const units = verifyUnits(input, wrapper);
    const result = await systemdVerify(dir, units);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(units[1]?.content).toMatch(/OnCalendar=hourly\nRandomizedDelaySec=5min\nPersistent=true/);
    expect(units[0]?.content).toContain(`ReadWritePaths=${input.textfileDirectory}`);
    expect(units[0]?.content).toContain("SuccessExitStatus=1");
  });

  it("settings read back exactly in bash", async () => {
    const settings = join(dir, "verify.env");
    writeFileSync(settings, verifySettings({ ...input, resolver: "[2620:fe::fe]:53" }));
    const output = await runOk("bash", [
      "-c",
      `. ${settings}; printf '%s\\n' "$VERIFY_BUNDLE" "$VERIFY_PROMETHEUS_FILE" "$VERIFY_RESOLVER"`,
    ]);
    expect(output.split("\n").slice(0, 3)).toEqual([
      VERIFY_PATHS.bundle,
      join(dir, "textfile", PROMETHEUS_FILE_NAME),
      "[2620:fe::fe]:53",
    ]);
  });
});

const VERIFY_CONFIG = JSON.stringify({ host: "monitor.example.net", sshUser: "monitor", sshHostKey: HOST_KEY });
const SECRET = "verify-ssh-key-do-not-leak";

function byName(result: PlanResult, name: string): RecordedResource {
  const found = result.run.resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource ${name} in ${result.run.resources.map((r) => r.name).join(", ")}`);
  return found;
}

describe("VerifySchedule", () => {
  it("is not planned without mailstack:verify", async () => {
    const { result } = await planWithKeys();
    expect(result.run.resources.filter((r) => r.type === "mailstack:verify:VerifySchedule")).toEqual([]);
  });

  it("copies the bundle by SFTP, then installs with one script over SSH that holds the outputs but no secret", async () => {
    const { result, keys } = await planWithKeys(
      { "mailstack:verify": VERIFY_CONFIG },
      { preview: false, secrets: { "mailstack:verifySshPrivateKey": SECRET } },
    );
    const copy = byName(result, "verify-bundle");
    expect(copy.type).toBe("command:remote:CopyToRemote");
    const copyInputs = plain(copy.inputs) as {
      connection: Record<string, string>;
      source: { asset: string };
      remotePath: string;
      triggers: string[];
    };
    expect(copyInputs.connection).toMatchObject({
      host: "monitor.example.net",
      user: "monitor",
      hostKey: HOST_KEY,
      privateKey: SECRET,
    });
    expect(copyInputs.remotePath).toBe(VERIFY_PATHS.staged);
    // The state holds the bundle gzipped and base64-encoded, about a third of its size.
    const bundle = gunzipSync(Buffer.from(copyInputs.source.asset, "base64")).toString("utf8");
    expect(bundle).toBe(verifyBundle());
    expect(bundle.startsWith("#!/usr/bin/env node\n")).toBe(true);
    expect(copyInputs.source.asset.length).toBeLessThan(bundle.length / 2);
    expect(copyInputs.triggers).toEqual([sha256(copyInputs.source.asset)]);

    const install = byName(result, "verify-install");
    expect(install.dependencies).toContain(copy.urn);
    expect(install.inputs.create).toBe("sudo bash -s");
    // Removed or moved to another host or user: the old script uninstalls on the old host first.
    expect(install.inputs.delete).toBe("sudo bash -s -- uninstall");
    expect(install.options).toMatchObject({ deleteBeforeReplace: true });
    const installTriggers = plain(install.inputs.triggers) as string[];
    expect(installTriggers).toEqual([sha256(String(plain(install.inputs.stdin))), "monitor.example.net", "monitor"]);
    const script = String(plain(install.inputs.stdin));
    expect(scriptSettings(script).VERIFY_PACKED_SHA256).toBe(sha256(copyInputs.source.asset));
    const outputsJson = (installedContent(script, VERIFY_PATHS.outputs) ?? "").replace(/\n$/, "");
    const outputs = JSON.parse(outputsJson) as Record<string, unknown> & {
      domains: Record<string, { dkim: { value: string } }>;
    };
    expect(Object.keys(outputs)).not.toContain("mailboxInitialPasswords");
    expect(outputs.domains["xd-cloud.de"]?.dkim.value).toMatch(/^v=DKIM1; k=rsa; .*p=MII/);

    const exposed = JSON.stringify([
      redact(result.run.resources.map((r) => r.inputs)),
      result.files,
      redact(result.run.outputs),
    ]);
    expect(exposed).not.toContain(SECRET);
    for (const values of keys.values()) {
      if (typeof values.privateKeyPem === "string") expect(script).not.toContain(values.privateKeyPem.split("\n")[1]);
    }
    const files = new Map(result.files.map((file) => [file.path, file.content]));
    expect(files.get("files/monitor.example.net/etc/mailstack-verify/outputs.json")).toBe(`${outputsJson}\n`);
    expect(files.get("files/monitor.example.net/etc/systemd/system/mailstack-verify.timer")).toContain(
      "OnCalendar=hourly",
    );
    expect(files.get("files/monitor.example.net/usr/local/bin/mailstack-verify")).toMatch(/^#!\/bin\/bash\n/);
  });
});

describe("the install script on a stand-in host", () => {
  it("receives the bundle packed as a function of the bundle alone: no time, no name, readable by gzip", async () => {
    requireTool("gunzip");
    const bundle = verifyBundle();
    const packed = packBundle(bundle);
    // RFC 1952: FLG (byte 3) 0 means no name or comment, MTIME (4-7) 0 means no time, OS (9) 3.
    const header = Buffer.from(packed, "base64").subarray(0, 10);
    expect([...header.subarray(3, 8)]).toEqual([0, 0, 0, 0, 0]);
    expect(header[9]).toBe(3);
    const unpacked = await run("bash", ["-c", "base64 -d | gunzip"], { input: packed });
    expect(unpacked.status, unpacked.stderr).toBe(0);
    expect(unpacked.stdout).toBe(bundle);
  });

  it("unpacks the copied bundle only when its digest matches, and installs it once", async () => {
    // The script's bundle step, run for real against a scratch "host" (no systemctl, no apt).
    const root = mkdtempSync(join(dir, "host-"));
    const bundle = "#!/usr/bin/env node\nconsole.log('verify');\n";
    const packed = packBundle(bundle);
    const staged = join(root, "home", VERIFY_PATHS.staged);
    mkdirSync(join(staged, ".."), { recursive: true });
    writeFileSync(staged, packed);
    const step = readFileSync(join(__dirname, "..", "render", "scripts", "verify-install.sh"), "utf8");
    const unpack = step.slice(
      step.indexOf("# The bundle arrives"),
      step.indexOf('install -d -m 0755 "$VERIFY_TEXTFILE_DIR"'),
    );
    const target = join(root, "lib", "mailstack-verify.js");
    const runStep = (sha: string) =>
      run(
        "bash",
        [
          "-euo",
          "pipefail",
          "-c",
          `log() { echo "mailstack: $*"; }\ngetent() { echo "x:x:0:0::${join(root, "home")}:/bin/sh"; }\n${unpack}`,
        ],
        {
          env: {
            ...process.env,
            VERIFY_BUNDLE: target,
            VERIFY_PACKED_SHA256: sha,
            VERIFY_STAGED: VERIFY_PATHS.staged,
            VERIFY_SSH_USER: "monitor",
          },
        },
      );
    const wrong = await runStep(sha256("something else"));
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/is not the bundle the stack copied/);
    const first = await runStep(sha256(packed));
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain(`installed ${target}`);
    expect(readFileSync(target, "utf8")).toBe(bundle);
    const again = await runStep(sha256(packed));
    expect(again.stdout).not.toContain("installed");
  });

  it("removes the scheduled verify with `uninstall`, also when it is half there, and keeps the next copy", async () => {
    // The uninstall step of the rendered script, run for real against a scratch "host" whose
    // systemctl records what it is asked.
    const root = mkdtempSync(join(dir, "uninstall-"));
    const path = (name: string) => join(root, name);
    const units = path("systemd");
    const bundleDir = path("lib/mailstack-verify");
    const staged = path(`home/${VERIFY_PATHS.staged}`);
    const source = readFileSync(join(__dirname, "..", "render", "scripts", "verify-install.sh"), "utf8");
    const start = source.indexOf('if [ "${1:-}" = uninstall ]; then');
    const step = source.slice(start, source.indexOf("\nfi\n", start) + 4);
    const env = {
      ...process.env,
      VERIFY_BUNDLE: `${bundleDir}/mailstack-verify.js`,
      VERIFY_WRAPPER: path("bin/mailstack-verify"),
      VERIFY_CONFIG_DIR: path("etc/mailstack-verify"),
      VERIFY_UNIT_DIR: units,
      VERIFY_PROMETHEUS_FILE: path("textfile/mailstack_verify.prom"),
    };
    const runUninstall = (...args: string[]) =>
      run(
        "bash",
        [
          "-euo",
          "pipefail",
          "-c",
          `log() { echo "mailstack: $*"; }\nsystemctl() { echo "systemctl $*" >>${path("calls")}; }\n${step}\necho "install continues"`,
          "verify-install",
          ...args,
        ],
        { env },
      );
    for (const dirName of ["systemd", "lib/mailstack-verify", "etc/mailstack-verify", "bin", "textfile"])
      mkdirSync(path(dirName), { recursive: true });
    mkdirSync(join(staged, ".."), { recursive: true });
    for (const file of [
      `${units}/mailstack-verify.timer`,
      `${units}/mailstack-verify.service`,
      env.VERIFY_BUNDLE,
      env.VERIFY_WRAPPER,
      `${env.VERIFY_CONFIG_DIR}/verify.env`,
      `${env.VERIFY_CONFIG_DIR}/outputs.json`,
      env.VERIFY_PROMETHEUS_FILE,
      staged,
    ])
      writeFileSync(file, "x");

    // Without the argument the script goes on to install.
    const onward = await runUninstall();
    expect(onward.status, onward.stderr).toBe(0);
    expect(onward.stdout).toContain("install continues");
    expect(existsSync(env.VERIFY_BUNDLE)).toBe(true);

    const removed = await runUninstall("uninstall");
    expect(removed.status, removed.stderr).toBe(0);
    expect(removed.stdout).toContain("removed the scheduled verify");
    expect(removed.stdout).not.toContain("install continues");
    expect(readFileSync(path("calls"), "utf8").split("\n")).toEqual([
      "systemctl disable --now mailstack-verify.timer",
      "systemctl stop mailstack-verify.service",
      "systemctl daemon-reload",
      "",
    ]);
    for (const gone of [
      `${units}/mailstack-verify.timer`,
      `${units}/mailstack-verify.service`,
      bundleDir,
      env.VERIFY_WRAPPER,
      env.VERIFY_CONFIG_DIR,
      env.VERIFY_PROMETHEUS_FILE,
    ])
      expect(existsSync(gone), gone).toBe(false);
    expect(existsSync(staged)).toBe(true);

    // Again, with nothing left (a host cleaned by hand): still succeeds, touches no unit.
    rmSync(path("calls"));
    const again = await runUninstall("uninstall");
    expect(again.status, again.stderr).toBe(0);
    expect(readFileSync(path("calls"), "utf8")).toBe("systemctl daemon-reload\n");
  });
});
