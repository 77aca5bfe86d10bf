// Log shipping for real: rsyslogd checks the rendered configuration (rsyslogd -N1), then, in a
// network namespace of its own with a journald of its own, forwards the journal over TLS to a local
// receiver (test/support/tls-receiver.ts) whose certificate the rendered configuration pins: an ordinary journal
// line and pfSense's firewall log (UDP from pfSense's address; another sender's is dropped) arrive,
// a secret-looking line does not (it stays in the local journal), and a receiver with a
// certificate from another CA gets nothing. journald reports the rendered size bound itself.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  journaldConf,
  PFSENSE_SYSLOG_PORT,
  rsyslogConf,
  SECRET_PATTERN,
  type PfSenseLogReceiver,
} from "../render/logging";
import { loopbackCertificate, type TestCertificate } from "./fakes/https";
import { NetnsLab } from "./support/netns";
import { run, runOk } from "./support/exec";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-logging-"));
const NS = `ms-log-${process.pid}`;
const COLLECTOR = "collector.example.org";
const MARK = `mark${process.pid}`;
const lab = new NetnsLab([NS]);
let right: TestCertificate;
let wrong: TestCertificate;

/** pfSense's LAN address, the mail host's (the receiver's), and another LAN host's, all on the lab's lo. */
const PFSENSE = "10.77.0.1";
const LISTEN = "10.77.0.2";
const STRANGER = "10.77.0.3";
const PFSENSE_RECEIVER: PfSenseLogReceiver = { listen: LISTEN, port: PFSENSE_SYSLOG_PORT, source: PFSENSE };

function config(name: string, port: number, ca: TestCertificate, pfsense?: PfSenseLogReceiver): string {
  const caFile = join(dir, `${name}-ca.pem`);
  writeFileSync(caFile, ca.cert);
  const work = join(dir, `${name}-work`);
  const path = join(dir, `${name}.conf`);
  writeFileSync(
    path,
    rsyslogConf(
      { host: "127.0.0.1", port, caCertificate: ca.cert, peerName: COLLECTOR },
      { caFile, workDirectory: work },
      pfsense,
    ),
  );
  return path;
}

beforeAll(async () => {
  for (const tool of ["rsyslogd", "ip", "unshare", "/lib/systemd/systemd-journald", "systemd-cat", "journalctl"])
    requireTool(tool);
  right = await loopbackCertificate(COLLECTOR);
  wrong = await loopbackCertificate(COLLECTOR);
  for (const [name, cert] of [
    ["right", right],
    ["wrong", wrong],
  ] as const) {
    writeFileSync(join(dir, `${name}-server.pem`), cert.cert);
    writeFileSync(join(dir, `${name}-server.key`), cert.key, { mode: 0o600 });
  }
  await runOk("install", [
    "-d",
    join(dir, "right-work"),
    join(dir, "wrong-work"),
    join(dir, "check-work"),
    join(dir, "check-pfsense-work"),
  ]);
});

afterAll(async () => {
  await lab.destroy();
  if (!process.env.MAILSTACK_KEEP_LAB) rmSync(dir, { recursive: true, force: true });
});

describe("the rendered rsyslog configuration", () => {
  it("passes rsyslogd -N1, and the check does refuse a broken one", async () => {
    const path = config("check", 6514, right);
    const ok = await run("rsyslogd", ["-N1", "-f", path]);
    expect(ok.status, ok.stderr).toBe(0);
    writeFileSync(join(dir, "broken.conf"), readFileSync(path, "utf8").replace('type="omfwd"', 'type="omnothing"'));
    expect((await run("rsyslogd", ["-N1", "-f", join(dir, "broken.conf")])).status).not.toBe(0);
  });

  it("passes rsyslogd -N1 with pfSense's receiver, which a wrong input parameter fails", async () => {
    const path = config("check-pfsense", 6514, right, PFSENSE_RECEIVER);
    const ok = await run("rsyslogd", ["-N1", "-f", path]);
    expect(ok.status, ok.stderr).toBe(0);
    writeFileSync(join(dir, "broken-udp.conf"), readFileSync(path, "utf8").replace("address=", "adress="));
    expect((await run("rsyslogd", ["-N1", "-f", join(dir, "broken-udp.conf")])).status).not.toBe(0);
  });

  it("forwards over TLS to the pinned collector only, never a secret-looking line, and pfSense's UDP log from pfSense only", async () => {
    await lab.create();
    await runOk("ip", ["netns", "exec", NS, "ip", "link", "set", "lo", "up"]);
    for (const address of [PFSENSE, LISTEN, STRANGER])
      await runOk("ip", ["netns", "exec", NS, "ip", "addr", "add", `${address}/32`, "dev", "lo"]);
    const receivers = [
      { name: "right", port: 6514 },
      { name: "wrong", port: 6515 },
    ];
    for (const receiver of receivers) {
      await lab.startScript(
        NS,
        "tls-receiver.ts",
        String(receiver.port),
        join(dir, `${receiver.name}-server.pem`),
        join(dir, `${receiver.name}-server.key`),
        join(dir, `${receiver.name}-received.txt`),
      );
    }
    const configs = [config("right", 6514, right, PFSENSE_RECEIVER), config("wrong", 6515, right)];
    const dropIn = join(dir, "journald.conf");
    writeFileSync(dropIn, journaldConf({ days: 30, maxSizeMiB: 512 }));
    const result = await run(
      "ip",
      [
        "netns",
        "exec",
        NS,
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "bash",
        "test/lab-fixtures/logging-lab.sh",
      ],
      {
        env: {
          ...process.env,
          LAB_DIR: dir,
          LAB_DROP_IN: dropIn,
          LAB_CONFIGS: configs.join(" "),
          LAB_RECEIVED: receivers.map((r) => join(dir, `${r.name}-received.txt`)).join(" "),
          LAB_MARK: MARK,
          LAB_PFSENSE: `${LISTEN} ${PFSENSE_SYSLOG_PORT} ${PFSENSE} ${STRANGER}`,
        },
        timeoutMs: 120_000,
      },
    );
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    const received = readFileSync(join(dir, "right-received.txt"), "utf8");
    // RFC 5425 framing: "<length> <RFC 5424 message>".
    expect(received).toMatch(
      new RegExp(`^\\d+ <\\d+>1 \\S+ \\S+ mailstack-lab .*ordinary line ${MARK} from the journal`, "m"),
    );
    expect(received).toContain(`after ${MARK}`);
    expect(received).not.toContain("hunter2");
    // pfSense's firewall log (UDP on the LAN) went on over TLS; a datagram from another host did not.
    expect(received).toMatch(new RegExp(`filterlog.*from-${PFSENSE.replace(/\./g, "\\.")} ${MARK}`));
    expect(received).not.toContain(`from-${STRANGER}`);
    // The secret-looking line stayed in the journal (root only): it was filtered, not lost.
    expect(readFileSync(join(dir, "journal.txt"), "utf8")).toContain(`password=hunter2-${MARK}`);
    // The collector with another CA's certificate received nothing.
    expect(readFileSync(join(dir, "wrong-received.txt"), "utf8")).not.toContain(MARK);
    // journald itself reports the rendered bound.
    expect(readFileSync(join(dir, "journald-limits.txt"), "utf8")).toMatch(/System Journal .* max 512\.0M/);
  });
});

describe("the secret filter", () => {
  it("matches what looks like a secret and leaves ordinary mail logs alone", async () => {
    requireTool("grep");
    const lines = [
      ["password=hunter2", true],
      ['"api_key": "abc"', true],
      ["Authorization: Bearer eyJhbGciOi", true],
      ["client_secret=xyz", true],
      ["-----BEGIN OPENSSH PRIVATE KEY-----", true],
      ["dovecot: auth: passwd-file(bob,1.2.3.4): unknown user", false],
      ["postfix/smtpd[1]: warning: unknown[1.2.3.4]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", false],
      ["postfix/smtpd[1]: connect from mail.example.net[192.0.2.1]", false],
    ] as const;
    for (const [line, secret] of lines) {
      const result = await run("grep", ["-qE", SECRET_PATTERN], { input: `${line.toLowerCase()}\n` });
      expect(result.status === 0, line).toBe(secret);
    }
  });
});

it("keeps the rendered files apart from the lab", () => expect(existsSync(dir)).toBe(true));
