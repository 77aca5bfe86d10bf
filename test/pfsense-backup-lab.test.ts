// pfSense's configuration backup for real: the rendered mailstack-pfsense-backup downloads a
// config.xml from Debian's OpenSSH sshd on loopback, which stands in for pfSense's sshd. Its user
// has exactly the authorized_keys line the stack gives the pfSense user (backupAuthorizedKey:
// forced `scp -f`, restrict, from=), which pfSense writes verbatim (auth.inc local_user_set). The
// file goes into a real restic repository and comes back byte for byte; a host key other than the
// pinned one stores nothing. (The one difference from pfSense: the login shell is bash here and
// scponly there; both run the forced command.)
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKUP_PATHS, backupConf } from "../render/backup";
import {
  backupAuthorizedKey,
  knownHosts,
  pfSenseBackupTool,
  SNAPSHOT_TAG,
  type PfSenseBackupInput,
} from "../render/pfsense-backup";
import { offsiteBackupInput } from "./fixtures";
import { Daemon, freePort, tcpOpen, waitFor } from "./lab";
import { run, runOk } from "./support/exec";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-pfsense-backup-"));
const repository = join(dir, "repository");
const passwordFile = join(dir, "restic-password");
const statusFile = join(dir, "pfsense-config.status");
const configXml = join(dir, "cf", "conf", "config.xml");
const stagingDir = join(dir, "staging");
const HOST = "mail.example.org";
let sshd: Daemon | undefined;
let port = 0;
let hostKey = "";

const env = { ...process.env, HOME: dir, RESTIC_PASSWORD_FILE: passwordFile, RESTIC_REPOSITORY: repository };

async function keygen(path: string): Promise<string> {
  await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path]);
  return readFileSync(`${path}.pub`, "utf8").trim();
}

/** The tool as the stack renders it, against this lab's sshd and repository. */
function tool(name: string, pinnedKey: string): string {
  const paths = {
    backupConfigFile: join(dir, "backup.conf"),
    keyFile: join(dir, "client_key"),
    knownHostsFile: join(dir, `known_hosts-${name}`),
    statusFile,
    stagingDir,
  };
  const input: PfSenseBackupInput = {
    address: "127.0.0.1",
    port,
    user: "root",
    hostKey: pinnedKey,
    configPath: configXml,
    schedule: "*-*-* 01:30",
    paths,
  };
  writeFileSync(paths.knownHostsFile, knownHosts(pinnedKey));
  const path = join(dir, `mailstack-pfsense-backup-${name}`);
  writeFileSync(path, pfSenseBackupTool(input), { mode: 0o755 });
  return path;
}

interface Snapshot {
  readonly short_id: string;
  readonly tags: string[];
}

async function snapshots(): Promise<Snapshot[]> {
  const out = await runOk("restic", ["snapshots", "--json", "--tag", SNAPSHOT_TAG], { env });
  return JSON.parse(out) as Snapshot[];
}

beforeAll(async () => {
  for (const command of ["/usr/sbin/sshd", "ssh-keygen", "scp", "restic"]) requireTool(command);
  mkdirSync(join(dir, "cf", "conf"), { recursive: true });
  // A config.xml with pfSense's root element and bytes no text filter would keep intact.
  writeFileSync(
    configXml,
    `<?xml version="1.0"?>\n<pfsense>\n\t<version>23.3</version>\n\t<system><user><bcrypt-hash>$2y$10$${randomBytes(
      24,
    ).toString("base64")}</bcrypt-hash></user></system>\n\t<cert><prv>${randomBytes(3000).toString(
      "base64",
    )}</prv></cert>\n</pfsense>\n`,
  );
  writeFileSync(passwordFile, `${randomBytes(24).toString("base64url")}\n`, { mode: 0o600 });
  await runOk("restic", ["init"], { env });
  writeFileSync(
    join(dir, "backup.conf"),
    backupConf(
      offsiteBackupInput({
        repository,
        host: HOST,
        retention: { daily: 3, weekly: 0, monthly: 0, yearly: 0 },
        paths: {
          ...BACKUP_PATHS,
          stagingDir: join(dir, "mailcow-staging"),
          statusFile: join(dir, "backup.status"),
          lockFile: join(dir, "backup.lock"),
          cacheDir: join(dir, "cache"),
          passwordFile,
          credentialsFile: join(dir, "credentials.env"),
        },
      }),
    ),
  );

  hostKey = await keygen(join(dir, "host_key"));
  const clientKey = await keygen(join(dir, "client_key"));
  // Exactly what the pfSense user's ~/.ssh/authorized_keys holds, for the lab's file and address.
  writeFileSync(
    join(dir, "authorized_keys"),
    backupAuthorizedKey(clientKey, configXml, "127.0.0.1", "mailstack-backup"),
    { mode: 0o600 },
  );
  port = await freePort();
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      // Root may log in with a key that carries a forced command, nothing else.
      "PermitRootLogin forced-commands-only",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      // The lab's files live below /tmp (world-writable): sshd's path checks would refuse them.
      "StrictModes no",
      "",
    ].join("\n"),
  );
  // sshd's privilege separation directory (made by the Debian service unit, not by sshd).
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  await runOk("/usr/sbin/sshd", ["-t", "-f", join(dir, "sshd_config")]);
  sshd = Daemon.start("sshd", "/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], dir);
  await waitFor("sshd", () => tcpOpen(port), 30_000);
}, 120_000);

afterAll(async () => {
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("mailstack-pfsense-backup against a real sshd and restic", () => {
  it("proves the download at deployment (init) and stores nothing", async () => {
    const result = await run("bash", [tool("init", hostKey), "init"], { env });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/config\.xml can be downloaded/);
    expect(await snapshots()).toEqual([]);
  });

  it("stores config.xml in the repository, and restic restores it byte for byte", async () => {
    const result = await run("bash", [tool("run", hostKey), "run"], { env });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const stored = await snapshots();
    expect(stored).toHaveLength(1);
    expect(stored[0]?.tags).toEqual([SNAPSHOT_TAG]);
    const target = join(dir, "restore");
    await runOk("restic", ["restore", "latest", "--tag", SNAPSHOT_TAG, "--host", HOST, "--target", target], { env });
    expect(readFileSync(join(target, stagingDir, "config.xml")).equals(readFileSync(configXml))).toBe(true);
    // pfSense's secrets do not stay on the mail host.
    expect(readdirSync(stagingDir)).toEqual([]);
    const status = readFileSync(statusFile, "utf8");
    expect(status).toMatch(/^last_result=success$/m);
    expect(status).toContain(`last_snapshot=${stored[0]?.short_id ?? "?"}`);
  });

  it("fails and stores nothing when pfSense shows another host key than the pinned one", async () => {
    const other = await keygen(join(dir, "other_host_key"));
    const result = await run("bash", [tool("wrong-host", other), "run"], { env });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/Host key verification failed/);
    expect(result.stderr).toMatch(/FAILED while downloading/);
    expect(await snapshots()).toHaveLength(1);
    const status = readFileSync(statusFile, "utf8");
    expect(status).toMatch(/^last_result=failure$/m);
    expect(status).toMatch(/^last_error=downloading .*scp failed/m);
    // The last success is still known (monitoring measures its age).
    expect(status).toMatch(/^last_success_epoch=\d+$/m);
    expect(existsSync(join(stagingDir, "config.xml"))).toBe(false);
  });

  it("lets the key run nothing but the download of config.xml", async () => {
    const ssh = [
      ...["-i", join(dir, "client_key"), "-p", String(port), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"],
      ...["-o", "HostKeyAlias=pfsense-config-backup", "-o", `UserKnownHostsFile=${join(dir, "known_hosts-run")}`],
      "root@127.0.0.1",
    ];
    // Whatever command the client asks for, the answer is scp's sender offering config.xml (scp
    // protocol: the sink's \0, then "C<mode> <size> <name>").
    const asked = await run("ssh", [...ssh, "cat /etc/passwd; echo marker-$((6*7))"], {
      env,
      input: "\0",
      timeoutMs: 30_000,
    });
    const size = readFileSync(configXml).length;
    expect(asked.stdout).toMatch(new RegExp(`^C0[0-7]{3} ${size} config\\.xml\n`));
    expect(asked.stdout).not.toContain("root:x:0:0");
    expect(asked.stdout).not.toContain("marker-42");
    // restrict: no terminal, so no interactive shell either.
    const shell = await run("ssh", [...ssh.slice(0, -1), "-tt", "root@127.0.0.1"], {
      env,
      input: "echo marker-$((6*7))\nexit\n",
      timeoutMs: 30_000,
    });
    expect(shell.stderr).toMatch(/PTY allocation request failed/);
    expect(shell.stdout).not.toContain("marker-42");
  });
});
