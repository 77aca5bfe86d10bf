// The deploy identity and the admins' sudo: the rendered sudoers checked by visudo, the sshd
// drop-in by Debian's sshd (-t, and -T for what each user gets), the deploy key restricted, the
// admins' sudo asking for the stack's password, which stays out of every planned file.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEPLOY_USER } from "../common/host-users";
import { bringUp, cloudInit } from "../render/mailcow-host";
import { plain } from "../plan/engine";
import type { PlanResult } from "../plan/run";
import { run, runOk } from "./support/exec";
import { decoded, setting } from "./support/scripts";
import { MAIL_HOST_SECRETS, mailHostInput } from "./fixtures";
import { planWithKeys } from "./plans";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-deploy-identity-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const input = mailHostInput();
const steps = bringUp(input, MAIL_HOST_SECRETS, "");
const step = (name: string) => {
  const found = steps.find((s) => s.name === name);
  if (!found) throw new Error(`no step ${name}`);
  return found;
};
const adminAccess = step("admin-access");
const file = (path: string) => {
  const found = adminAccess.script.files.find((f) => f.path === path);
  if (!found) throw new Error(`admin-access installs no ${path}`);
  return found.content;
};
const SUDOERS = "/etc/sudoers.d/90-mailstack";
const SSHD = "/etc/ssh/sshd_config.d/10-mailstack.conf";

/** Runs `script` (bash) in a private mount namespace with a fresh /run (sshd needs /run/sshd). */
function inMountNamespace(script: string, args: readonly string[] = []) {
  return run("unshare", [
    "--mount",
    "--propagation",
    "private",
    "bash",
    "-c",
    `set -e; mount -t tmpfs tmpfs /run; mkdir -m 0755 /run/sshd; ${script}`,
    "bash",
    ...args,
  ]);
}

describe("sudo", () => {
  it("passes visudo, as the admin-access step checks it before installing", async () => {
    requireTool("visudo");
    const path = join(dir, "sudoers");
    writeFileSync(path, file(SUDOERS), { mode: 0o440 });
    expect(await runOk("visudo", ["-cf", path])).toMatch(/parsed OK/);
    expect(decoded(adminAccess.script.content, "SUDOERS_B64")).toBe(file(SUDOERS));
  });

  it("asks the admins for their password; the deploy user may run only `bash -s` without one", () => {
    const rules = file(SUDOERS)
      .split("\n")
      .filter((line) => line && !line.startsWith("#"));
    expect(rules).toEqual([
      `${input.admin.username} ALL=(ALL:ALL) ALL`,
      `${DEPLOY_USER} ALL=(root) NOPASSWD: /usr/bin/bash -s`,
    ]);
    for (const rule of rules.filter((line) => !line.startsWith(`${DEPLOY_USER} `)))
      expect(rule).not.toMatch(/NOPASSWD/);
  });

  it("sets the admin's password from stdin only (a secret step, never at first boot)", () => {
    const password = step("admin-password");
    expect(password.secret).toBe(true);
    expect(setting(password.script.content, "ADMIN_USER")).toBe(input.admin.username);
    expect(setting(password.script.content, "ADMIN_PASSWORD")).toBe(MAIL_HOST_SECRETS.adminSudoPassword);
    expect(password.script.content).toMatch(/^chpasswd --crypt-method SHA512 <<<"\$ADMIN_USER:\$ADMIN_PASSWORD"$/m);
    const { userData } = cloudInit(input);
    expect(userData).not.toContain(MAIL_HOST_SECRETS.adminSudoPassword);
    expect(userData).not.toContain("mailstack-admin-password");
  });
});

describe("the deploy user", () => {
  it("holds only the stack's key, restricted and only from the admin networks", () => {
    const line = `restrict,from="${input.admin.networks.join(",")}" ${input.deployKey} mailstack-deploy\n`;
    expect(file(`/home/${DEPLOY_USER}/.ssh/authorized_keys`)).toBe(line);
    expect(file(`/home/${input.admin.username}/.ssh/authorized_keys`)).not.toContain(input.deployKey);
    expect(decoded(adminAccess.script.content, "DEPLOY_KEYS_B64")).toBe(line);
  });

  it("exists from the first boot (cloud-init), with the same key line and no sudo rule from cloud-init", () => {
    const document = parse(cloudInit(input).userData.replace(/^#cloud-config\n/, "")) as {
      users: Record<string, unknown>[];
    };
    expect(document.users).toEqual([
      expect.objectContaining({ name: input.admin.username, lock_passwd: true }),
      expect.objectContaining({
        name: DEPLOY_USER,
        lock_passwd: true,
        ssh_authorized_keys: [file(`/home/${DEPLOY_USER}/.ssh/authorized_keys`).trimEnd()],
      }),
    ]);
    for (const user of document.users) expect(user.sudo).toBeUndefined();
  });
});

describe("sshd with the drop-in first, as on Debian", () => {
  let config: string;
  let hostKey: string;
  beforeAll(async () => {
    requireTool("sshd");
    requireTool("ssh-keygen");
    const dropIn = join(dir, "10-mailstack.conf");
    writeFileSync(dropIn, file(SSHD));
    hostKey = join(dir, "host-key");
    await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
    // What admin-access.sh check_sshd builds: the drop-in, then Debian's sshd_config without its Include.
    config = join(dir, "sshd_config");
    const debian = (await runOk("cat", ["/etc/ssh/sshd_config"]))
      .split("\n")
      .filter((line) => !line.startsWith("Include /etc/ssh/sshd_config.d/"));
    writeFileSync(config, [`Include ${dropIn}`, ...debian].join("\n"));
  });

  const effective = async (user: string): Promise<Map<string, string[]>> => {
    const result = await inMountNamespace(`sshd -T -f "$1" -h "$2" -C "user=$3,host=ops.example.org,addr=10.3.0.9"`, [
      config,
      hostKey,
      user,
    ]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const values = new Map<string, string[]>();
    for (const line of result.stdout.split("\n")) {
      const [key, ...rest] = line.split(" ");
      if (key) values.set(key, [...(values.get(key) ?? []), rest.join(" ")]);
    }
    return values;
  };

  it("passes sshd -t", async () => {
    const result = await inMountNamespace(`sshd -t -f "$1" -h "$2"`, [config, hostKey]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("gives the deploy user no forwarding, tunnel, pty or rc; keys only for everyone", async () => {
    const deploy = await effective(DEPLOY_USER);
    for (const [key, value] of [
      ["allowtcpforwarding", "no"],
      ["allowstreamlocalforwarding", "no"],
      ["disableforwarding", "yes"],
      ["permittunnel", "no"],
      ["x11forwarding", "no"],
      ["allowagentforwarding", "no"],
      ["permittty", "no"],
      ["permituserrc", "no"],
      ["passwordauthentication", "no"],
      ["kbdinteractiveauthentication", "no"],
      ["permitrootlogin", "no"],
    ] as const)
      expect(deploy.get(key), key).toEqual([value]);
    expect(deploy.get("allowusers")).toEqual([input.admin.username, DEPLOY_USER]);
    // The Match block stays the deploy user's: the admins keep a pty, and still no passwords.
    const admin = await effective(input.admin.username);
    expect(admin.get("permittty")).toEqual(["yes"]);
    expect(admin.get("passwordauthentication")).toEqual(["no"]);
  });
});

describe("the planned prod stack", () => {
  let plan: PlanResult;
  let password: string;
  beforeAll(async () => {
    // Applied (not a preview): the connection needs the VM's host key, read through the guest agent.
    const planned = await planWithKeys({}, { preview: false });
    plan = planned.result;
    const generated = planned.keys.get("mailcow-admin-sudo-password")?.result;
    password = typeof generated === "string" ? generated : "";
  });

  it("connects to the VM as the deploy user only, with sudo only in the form `sudo bash -s`", () => {
    const vmCommands = plan.run.resources.filter(
      (r) =>
        r.type === "command:remote:Command" &&
        JSON.stringify(plain(r.inputs)).includes('"host":"10.3.0.4"') &&
        !r.name.endsWith("-host-key"),
    );
    expect(vmCommands.length).toBeGreaterThan(10);
    for (const resource of vmCommands) {
      const inputs = plain(resource.inputs) as { connection?: { user?: string }; create?: string };
      expect(inputs.connection?.user, resource.name).toBe(DEPLOY_USER);
      if (inputs.create?.includes("sudo")) expect(inputs.create, resource.name).toBe("sudo bash -s");
    }
  });

  it("exports the admin's sudo password as a secret and writes it into no planned file", () => {
    expect(password).toMatch(/^[A-Za-z0-9]{24}$/);
    const outputs = plain(plan.run.outputs) as { admin?: { username?: unknown; sudoPassword?: unknown } };
    expect(outputs.admin?.username).toBe("mailops");
    for (const planned of plan.files) expect(planned.content, planned.path).not.toContain(password);
    expect(JSON.stringify(plan.document)).not.toContain(password);
  });
});
