// The deploy identity on a real sshd, and the upgrade of a host deployed before it: a "guest" (a
// mount namespace with copy-on-write /etc, /home and /usr/local, so users and files created here
// never touch this machine) starts in the state the previous release (main f1e1c1f) left it in,
// Debian's sshd serves it on a loopback port, and the admin-access step runs exactly as the stack
// sends it, through the node script (render/scripts/guest-step.sh) and a stand-in `qm guest exec`
// (test/lab-fixtures/fake-qm.sh). Then: the deploy user logs in and runs `sudo bash -s`, nothing
// else; its port forwarding to loopback is refused; the old identity is gone; the admin-password
// step sets the admin's sudo password through real chpasswd, from stdin only.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEPLOY_USER } from "../common/host-users";
import { installAndRun } from "../render/host-scripts";
import { bringUp } from "../render/mailcow-host";
import { guestStepScript } from "../render/proxmox";
import { Daemon, freePort, tcpOpen, waitFor } from "./lab";
import { run, runOk, type RunResult } from "./support/exec";
import { MAIL_HOST_SECRETS, mailHostInput } from "./fixtures";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-deploy-lab-"));
const ADMIN = "mailops";
const PASSWORD = MAIL_HOST_SECRETS.adminSudoPassword;
let guest: Daemon | undefined;
let guestPid = "";
let sshd: Daemon | undefined;
let sshPort = 0;
let target: Server | undefined;
let targetPort = 0;
const keys = { deploy: join(dir, "deploy"), admin: join(dir, "admin") };

/** Runs `script` (bash) as root inside the guest, `args` as $1…. */
const inGuest = (script: string, args: readonly string[] = [], input?: string) =>
  run("nsenter", ["-t", guestPid, "-m", "--", "bash", "-c", script, "bash", ...args], {
    ...(input !== undefined ? { input } : {}),
  });

/** ssh to the guest's sshd as `user` with `key`; `command` runs there, `input` on its stdin. */
const ssh = (user: string, key: string, extra: readonly string[], input = "") =>
  run(
    "ssh",
    [
      ...["-F", "/dev/null", "-i", key, "-p", String(sshPort)],
      ...["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no"],
      ...["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"],
      `${user}@127.0.0.1`,
      ...extra,
    ],
    { input, timeoutMs: 60_000 },
  );

async function startSshd(): Promise<void> {
  await sshd?.stop();
  sshd = Daemon.start(
    "sshd",
    "nsenter",
    [
      ...["-t", guestPid, "-m", "--", "/usr/sbin/sshd", "-D", "-e"],
      ...["-p", String(sshPort), "-o", "ListenAddress=127.0.0.1", "-o", "PidFile=/run/sshd.pid"],
    ],
    dir,
  );
  await waitFor("sshd", () => tcpOpen(sshPort));
}

const pub = (key: string) => readFileSync(`${key}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
const input = () =>
  mailHostInput({
    admin: { username: ADMIN, email: "admin@example.org", sshKeys: [pub(keys.admin)], networks: ["127.0.0.0/8"] },
    deployKey: pub(keys.deploy),
  });
const step = (name: string) => {
  const found = bringUp(input(), MAIL_HOST_SECRETS, "").find((s) => s.name === name);
  if (!found) throw new Error(`no step ${name}`);
  return found;
};

// The previous release's admin-access result (main f1e1c1f render/host-files.ts): the deploy key in
// the admin's authorized_keys, NOPASSWD sudo, sshd only for the admin.
const OLD_STATE = `set -e
useradd --create-home --shell /bin/bash "$1"
passwd -l "$1" >/dev/null
install -d -m 0700 -o "$1" -g "$1" "/home/$1/.ssh"
printf '%s\\n%s\\n' "$2" "from=\\"127.0.0.0/8\\",no-agent-forwarding,no-X11-forwarding $3 mailstack-deploy" >"/home/$1/.ssh/authorized_keys"
chown "$1:$1" "/home/$1/.ssh/authorized_keys"; chmod 0600 "/home/$1/.ssh/authorized_keys"
printf '%s ALL=(ALL) NOPASSWD:ALL\\n' "$1" >/etc/sudoers.d/90-mailstack; chmod 0440 /etc/sudoers.d/90-mailstack
printf '%s\\n' 'PasswordAuthentication no' 'KbdInteractiveAuthentication no' 'PermitRootLogin no' \\
  'PubkeyAuthentication yes' 'AuthenticationMethods publickey' "AllowUsers $1" 'MaxAuthTries 3' \\
  'LoginGraceTime 30' 'X11Forwarding no' 'AllowAgentForwarding no' >/etc/ssh/sshd_config.d/10-mailstack.conf`;

beforeAll(async () => {
  for (const tool of ["sshd", "ssh", "ssh-keygen", "unshare", "nsenter", "sudo", "chpasswd", "openssl", "perl"])
    requireTool(tool);
  for (const key of Object.values(keys)) await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  // What the guest has that this machine has not: a first boot long done, systemctl (the reload is
  // recorded; the test restarts sshd), chpasswd recording its arguments.
  const shims = join(dir, "usr-local");
  mkdirSync(join(shims, "bin"), { recursive: true });
  mkdirSync(join(shims, "sbin"), { recursive: true });
  const shim = (path: string, body: string) => {
    writeFileSync(join(shims, path), `#!/bin/bash\n${body}\n`);
    chmodSync(join(shims, path), 0o755);
  };
  shim("bin/cloud-init", 'echo "status: done"');
  shim("bin/systemctl", 'echo "$*" >>/run/systemctl.log');
  shim("sbin/chpasswd", 'printf "%s\\n" "$*" >>/run/chpasswd.argv\nexec /usr/sbin/chpasswd "$@"');
  for (const name of ["etc", "home", "usr-local"]) {
    mkdirSync(join(dir, "upper", name), { recursive: true });
    mkdirSync(join(dir, "work", name), { recursive: true });
  }
  const overlay = (lower: string, name: string, mountPoint: string) =>
    `mount -t overlay overlay -o lowerdir=${lower},upperdir=${dir}/upper/${name},workdir=${dir}/work/${name} ${mountPoint}`;
  guest = Daemon.start(
    "guest",
    "unshare",
    [
      ...["--mount", "--propagation", "private", "bash", "-c"],
      [
        "set -e",
        overlay("/etc", "etc", "/etc"),
        overlay("/home", "home", "/home"),
        overlay(`${shims}:/usr/local`, "usr-local", "/usr/local"),
        "mount -t tmpfs tmpfs /run",
        "mkdir -m 0755 /run/sshd",
        `echo $$ >${dir}/guest.pid`,
        "exec sleep infinity",
      ].join("; "),
    ],
    dir,
  );
  guestPid = await waitFor("the guest namespace", () => {
    const pid = (() => {
      try {
        return readFileSync(join(dir, "guest.pid"), "utf8").trim();
      } catch {
        return "";
      }
    })();
    return pid || undefined;
  });
  const old = await inGuest(OLD_STATE, [ADMIN, pub(keys.admin), pub(keys.deploy)]);
  expect(old.stderr).toBe("");
  expect(old.status).toBe(0);

  // A service on the guest's loopback, as mailcow's are (reached only by forwarding through sshd).
  target = createServer((socket) => socket.end("mailcow-internal\n"));
  await new Promise<void>((resolve) => target?.listen(0, "127.0.0.1", resolve));
  const address = target.address();
  targetPort = typeof address === "object" && address ? address.port : 0;
  sshPort = await freePort();
  await startSshd();
}, 120_000);

afterAll(async () => {
  await sshd?.stop();
  await guest?.stop();
  await new Promise((resolve) => (target ? target.close(resolve) : resolve(undefined)));
  rmSync(dir, { recursive: true, force: true });
});

const ok = (result: RunResult, what: string) => {
  expect(result.status, `${what}: ${result.stderr}`).toBe(0);
  return result.stdout;
};

describe("a host deployed by the previous release", () => {
  it("knows no deploy user: the new release's SSH connection would fail, the old identity still works", async () => {
    const deploy = await ssh(DEPLOY_USER, keys.deploy, ["sudo", "bash", "-s"], "id -u\n");
    expect(deploy.status).toBe(255);
    expect(deploy.stderr).toMatch(/Permission denied/);
    const old = await ssh(ADMIN, keys.deploy, ["sudo", "-n", "id", "-u"]);
    expect(ok(old, "old identity")).toBe("0\n");
  });
});

describe("the admin-access step through the guest agent", () => {
  let result: RunResult;
  beforeAll(async () => {
    const bin = join(dir, "node-bin");
    mkdirSync(bin, { recursive: true });
    copyFileSync(join(__dirname, "lab-fixtures", "fake-qm.sh"), join(bin, "qm"));
    chmodSync(join(bin, "qm"), 0o755);
    // The node's command, exactly as MailcowVm renders it (components/mailcow-vm.ts).
    const nodeScript = guestStepScript(104, "admin-access", installAndRun(step("admin-access").script));
    result = await run("bash", ["-s"], {
      input: nodeScript,
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH ?? ""}`,
        FAKE_QM_GUEST: guestPid,
        FAKE_QM_LOG: join(dir, "qm.log"),
      },
      timeoutMs: 120_000,
    });
    // admin-access reloads sshd when its drop-in changed (recorded by the systemctl stand-in).
    await startSshd();
  }, 180_000);

  it("succeeds, asked the agent, waited for the first boot, then ran the step in the guest; sshd is reloaded", async () => {
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/mailstack: admin-access done/);
    expect(readFileSync(join(dir, "qm.log"), "utf8").split("\n").filter(Boolean)).toEqual([
      "104 true",
      "104 cloud-init status --wait",
      "104 bash -s",
    ]);
    expect(ok(await inGuest("cat /run/systemctl.log"), "systemctl log")).toBe("reload ssh\n");
  });

  it("lets the deploy user run scripts through `sudo bash -s` as root, and nothing else", async () => {
    expect(ok(await ssh(DEPLOY_USER, keys.deploy, ["sudo", "bash", "-s"], "id -u\n"), "sudo bash -s")).toBe("0\n");
    const other = await ssh(DEPLOY_USER, keys.deploy, ["sudo", "-n", "id", "-u"]);
    expect(other.status).not.toBe(0);
    expect(other.stderr).toMatch(/a password is required/);
  });

  it("refuses the deploy user's port forwarding to loopback (ssh -L and -W), which the admin keeps", async () => {
    const viaW = await ssh(DEPLOY_USER, keys.deploy, ["-W", `127.0.0.1:${targetPort}`]);
    expect(viaW.status).toBe(255);
    expect(viaW.stderr).toMatch(/stdio forwarding failed/);
    expect(viaW.stdout).toBe("");
    const admin = await ssh(ADMIN, keys.admin, ["-W", `127.0.0.1:${targetPort}`]);
    expect(ok(admin, "admin -W")).toBe("mailcow-internal\n");

    // ssh -L: the local end listens, the server refuses the channel, nothing of the service arrives.
    const localPort = await freePort();
    const forward = Daemon.start(
      "ssh-forward",
      "ssh",
      [
        ...["-F", "/dev/null", "-i", keys.deploy, "-p", String(sshPort), "-N"],
        ...["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no"],
        ...["-o", "UserKnownHostsFile=/dev/null", "-L", `127.0.0.1:${localPort}:127.0.0.1:${targetPort}`],
        `${DEPLOY_USER}@127.0.0.1`,
      ],
      dir,
    );
    try {
      await waitFor("ssh -L's local port", () => tcpOpen(localPort));
      const received = await new Promise<string>((resolve) => {
        const socket = connect({ host: "127.0.0.1", port: localPort });
        let data = "";
        socket.on("data", (chunk: Buffer) => (data += chunk.toString()));
        socket.on("close", () => resolve(data));
        socket.on("error", () => resolve(data));
      });
      expect(received).toBe("");
      await waitFor("the refusal in ssh's log", () =>
        /administratively prohibited/.test(readFileSync(forward.logFile, "utf8")) ? true : undefined,
      );
    } finally {
      await forward.stop();
    }
  });

  it("gives the deploy user no pty", async () => {
    const tty = await ssh(DEPLOY_USER, keys.deploy, ["-tt", "true"]);
    expect(tty.stderr).toMatch(/PTY allocation request failed/);
  });

  it("removed the old identity: the deploy key no longer logs in as the admin, whose sudo wants a password", async () => {
    const old = await ssh(ADMIN, keys.deploy, ["true"]);
    expect(old.status).toBe(255);
    expect(old.stderr).toMatch(/Permission denied/);
    const admin = await ssh(ADMIN, keys.admin, ["sudo", "-n", "true"]);
    expect(admin.status).not.toBe(0);
    expect(admin.stderr).toMatch(/a password is required/);
  });
});

describe("the admin-password step, over SSH as the deploy user", () => {
  let result: RunResult;
  beforeAll(async () => {
    const password = step("admin-password");
    expect(password.secret).toBe(true);
    // A secret step's stdin is the script itself (components/mailcow-vm.ts), the command `sudo bash -s`.
    result = await ssh(DEPLOY_USER, keys.deploy, ["sudo", "bash", "-s"], password.script.content);
  });

  it("stores a SHA-512 crypt hash of the stack's password (real chpasswd)", async () => {
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const entry = ok(await inGuest('getent shadow "$1"', [ADMIN]), "getent shadow");
    const hash = entry.split(":")[1] ?? "";
    const salt = /^\$6\$([^$]+)\$/.exec(hash)?.[1];
    expect(salt, hash.slice(0, 3)).toBeDefined();
    const expected = await runOk("openssl", ["passwd", "-6", "-salt", salt ?? "", "-stdin"], { input: PASSWORD });
    expect(hash).toBe(expected.trim());
  });

  it("lets the admin sudo with it (and not without)", async () => {
    const admin = await ssh(ADMIN, keys.admin, ["sudo -S -p '' id -u"], `${PASSWORD}\n`);
    expect(ok(admin, "sudo -S")).toBe("0\n");
    const wrong = await ssh(ADMIN, keys.admin, ["sudo -S -p '' id -u"], "not-the-password\n");
    expect(wrong.status).not.toBe(0);
  });

  it("never puts the password in an argument list or a log", async () => {
    expect(ok(await inGuest("cat /run/chpasswd.argv"), "chpasswd argv")).toBe("--crypt-method SHA512\n");
    expect(result.stdout).not.toContain(PASSWORD);
    expect(result.stdout).toMatch(/admin-password done/);
    expect(readFileSync(sshd?.logFile ?? "", "utf8")).not.toContain(PASSWORD);
  });
});
