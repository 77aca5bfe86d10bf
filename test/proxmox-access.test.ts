// ProxmoxAccess: the admin realm's required second factor. The rendered script passes
// shellcheck and runs against a domains.cfg in Proxmox's format, with a stand-in for pveum
// (which needs a Proxmox cluster); the mock plan shows the command on the pinned node.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { plain } from "../plan/engine";
import { realmTfaScript } from "../render/proxmox";
import { planWithKeys } from "./plans";
import { run } from "./support/exec";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-proxmox-access-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DOMAINS_CFG = `pam: pam
\tcomment Linux PAM standard authentication

pve: pve
\tcomment Proxmox VE authentication server
\tdefault 0
`;

/** A pveum that applies `realm modify <realm> --tfa type=<t>` to domains.cfg (or, broken, ignores it). */
function fakePveum(cfg: string, broken: boolean): string {
  const bin = join(dir, broken ? "broken" : "working");
  rmSync(bin, { recursive: true, force: true });
  mkdirSync(bin, { recursive: true });
  const script = broken
    ? "#!/bin/bash\nexit 0\n"
    : `#!/bin/bash
set -euo pipefail
[ "$1 $2" = "realm modify" ] && [ "$4" = "--tfa" ] || { echo "unexpected: $*" >&2; exit 2; }
awk -v realm="$3" -v tfa="$5" '
  $1 ~ /:$/ { current = $2 }
  current == realm && $1 == "tfa" { next }
  { print }
  $1 ~ /:$/ && $2 == realm { print "\\ttfa " tfa }
' ${cfg} >${cfg}.new && mv ${cfg}.new ${cfg}
`;
  writeFileSync(join(bin, "pveum"), script);
  chmodSync(join(bin, "pveum"), 0o755);
  return bin;
}

function runScript(realm: string, bin: string, cfg: string) {
  return run("bash", ["-c", realmTfaScript(realm, "oath", cfg)], {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
  });
}

describe("the realm TFA script", () => {
  it("passes shellcheck", async () => {
    requireTool("shellcheck");
    const result = await run("shellcheck", ["-S", "style", "-s", "bash", "-"], {
      input: realmTfaScript("pve", "oath"),
    });
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });

  it("requires TOTP for the admin realm only, and is idempotent", async () => {
    const cfg = join(dir, "domains.cfg");
    writeFileSync(cfg, DOMAINS_CFG);
    const bin = fakePveum(cfg, false);
    for (let run = 0; run < 2; run++) {
      const result = await runScript("pve", bin, cfg);
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toContain("realm pve requires oath");
    }
    const text = readFileSync(cfg, "utf8");
    expect(text.match(/tfa type=oath/g)).toHaveLength(1);
    expect(text).toMatch(/pve: pve\n\ttfa type=oath\n/);
    expect(text).toMatch(/pam: pam\n\tcomment Linux PAM standard authentication\n\n/);
  });

  it("fails when the realm still does not require TFA afterwards", async () => {
    const cfg = join(dir, "domains-broken.cfg");
    writeFileSync(cfg, DOMAINS_CFG);
    const result = await runScript("pve", fakePveum(cfg, true), cfg);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/realm pve does not require oath after pveum realm modify/);
  });

  it("refuses a realm name that is not a Proxmox realm id", () => {
    expect(() => realmTfaScript("pve; rm -rf /", "oath")).toThrow(/invalid realm/);
  });
});

describe("ProxmoxAccess in the prod plan", () => {
  it("runs the realm TFA command on the node, whose host key is pinned, with the node's key kept secret", async () => {
    const { result } = await planWithKeys();
    const command = result.run.resources.find((r) => r.name === "proxmox-access-realm-tfa");
    expect(command?.type).toBe("command:remote:Command");
    expect(plain(command?.inputs.connection)).toMatchObject({
      host: "pve.xd-cloud.de",
      user: "root",
      hostKey: expect.stringMatching(/^ssh-ed25519 /) as string,
    });
    expect(plain(command?.inputs.stdin)).toBe(realmTfaScript("pve", "oath"));
    expect(JSON.stringify(result.document)).not.toContain("PRIVATE KEY");
  });
});
