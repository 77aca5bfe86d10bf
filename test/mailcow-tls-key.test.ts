// The stack's TLS key on a file tree laid out as mailcow's ACME container leaves it: the tls-key
// step (render/scripts/mailcow-tls-key.sh) runs for real, and a stand-in for one loop of mailcow's
// ACME container (test/lab-fixtures/mailcow-acme.sh, following acme.sh and obtain-certificate.sh at
// mailcow 2026-07a) issues from a local CA. DANE holds when every key path mailcow serves from holds
// the key the TLSA record pins: at the first start, across renewals and after a key rollover.
import { generateKeyPair } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderScript } from "../render/shell";
import { run, runOk } from "./support/exec";
import { requireTool } from "./tools";

const HOST = "mail.example.org";
const dir = mkdtempSync(join(tmpdir(), "mailstack-tls-key-"));
const bin = join(dir, "bin");
const calls = join(dir, "docker-calls");
const ca = join(dir, "ca");
const ACME = join(__dirname, "lab-fixtures", "mailcow-acme.sh");
let keyA = "";
let keyB = "";

afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  requireTool("openssl");
  const generate = promisify(generateKeyPair);
  const pem = async () =>
    (await generate("rsa", { modulusLength: 2048 })).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  [keyA, keyB] = await Promise.all([pem(), pem()]);
  // A docker stand-in: mailcow runs (`compose ps -q` answers), every call is recorded.
  mkdirSync(bin);
  writeFileSync(join(bin, "docker"), `#!/bin/sh\necho "$*" >> ${calls}\nif [ "$2" = ps ]; then echo 0123abcd; fi\n`);
  chmodSync(join(bin, "docker"), 0o755);
  // The CA standing in for Let's Encrypt (the issuer check looks for "Let's Encrypt").
  mkdirSync(ca);
  await runOk("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/C=US/O=Let's Encrypt/CN=R11",
    "-keyout",
    join(ca, "ca.key"),
    "-out",
    join(ca, "ca.pem"),
  ]);
});

/** A mailcow checkout as the clone leaves it (ssl-example holds mailcow's dhparams.pem). */
function freshMailcow(name: string): string {
  const root = join(dir, name);
  mkdirSync(join(root, "data", "assets", "ssl-example"), { recursive: true });
  writeFileSync(
    join(root, "data", "assets", "ssl-example", "dhparams.pem"),
    "-----BEGIN DH PARAMETERS-----\nffdhe2048\n-----END DH PARAMETERS-----\n",
  );
  return root;
}

async function tlsKeyStep(root: string, keyPem: string): Promise<{ stdout: string; restarts: string[] }> {
  writeFileSync(calls, "");
  const script = renderScript("mailcow-tls-key", {
    MAILCOW_DIR: root,
    MAILCOW_HOSTNAME: HOST,
    TLS_KEY_B64: Buffer.from(keyPem).toString("base64"),
  });
  const stdout = await runOk("bash", ["-s"], {
    input: script,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
  });
  return {
    stdout,
    restarts: readFileSync(calls, "utf8")
      .split("\n")
      .filter((line) => line.startsWith("compose restart")),
  };
}

const acme = (root: string) => run("bash", [ACME, root, HOST, ca]);

async function publicKeyOf(file: string): Promise<string> {
  const text = readFileSync(file, "utf8");
  return text.includes("CERTIFICATE")
    ? runOk("openssl", ["x509", "-in", file, "-noout", "-pubkey"])
    : runOk("openssl", ["pkey", "-in", file, "-pubout"]);
}

/** Every key and certificate mailcow serves from (ssl/, the per-certificate directories), by path. */
async function servedKeys(root: string): Promise<Map<string, string>> {
  const ssl = join(root, "data", "assets", "ssl");
  const files = ["acme/key.pem", "key.pem", "cert.pem"];
  for (const entry of readdirSync(ssl, { withFileTypes: true })) {
    if (!entry.isDirectory() || ["acme", "backups"].includes(entry.name)) continue;
    for (const file of ["key.pem", "cert.pem"])
      if (existsSync(join(ssl, entry.name, file))) files.push(`${entry.name}/${file}`);
  }
  return new Map(await Promise.all(files.map(async (file) => [file, await publicKeyOf(join(ssl, file))] as const)));
}

async function expectEverywhere(root: string, keyPem: string): Promise<void> {
  const expected = await runOk("openssl", ["pkey", "-pubout"], { input: keyPem });
  const served = await servedKeys(root);
  expect(served.size).toBeGreaterThanOrEqual(3);
  for (const [file, key] of served) expect(key, file).toBe(expected);
}

describe("the first start", () => {
  const root = freshMailcow("first");

  it("seeds the key with a certificate mailcow's ACME accepts, so Let's Encrypt issues for the stack's key", async () => {
    const first = await tlsKeyStep(root, keyA);
    expect(first.stdout).toContain("changed");
    const ssl = join(root, "data", "assets", "ssl");
    expect(await runOk("openssl", ["x509", "-in", join(ssl, "cert.pem"), "-noout", "-issuer"])).toMatch(
      /O\s*=\s*mailcow/,
    );
    expect(existsSync(join(ssl, "dhparams.pem"))).toBe(true); // Dovecot's ssl_dh (dovecot.conf:46)
    await expectEverywhere(root, keyA);

    const issued = await acme(root);
    expect(issued.stdout, issued.stderr).toContain(`issued a certificate for ${HOST}`);
    expect(await runOk("openssl", ["x509", "-in", join(ssl, "cert.pem"), "-noout", "-issuer"])).toMatch(
      /Let's Encrypt/,
    );
    await expectEverywhere(root, keyA);
  });

  it("changes and restarts nothing when it runs again over the issued certificate", async () => {
    const again = await tlsKeyStep(root, keyA);
    expect(again.stdout).not.toContain("changed");
    expect(again.restarts).toEqual([]);
    expect(
      await runOk("openssl", ["x509", "-in", join(root, "data", "assets", "ssl", "cert.pem"), "-noout", "-issuer"]),
    ).toMatch(/Let's Encrypt/);
  });

  it("keeps the key across a renewal", async () => {
    writeFileSync(join(root, "data", "assets", "ssl", "force_renew"), "");
    expect((await acme(root)).stdout).toContain("issued a certificate");
    await expectEverywhere(root, keyA);
  });

  it("would stop ACME for good with a certificate issued by the host itself (the stand-in's check is mailcow's)", async () => {
    const other = freshMailcow("self-issued");
    const ssl = join(other, "data", "assets", "ssl");
    mkdirSync(join(ssl, "acme"), { recursive: true });
    writeFileSync(join(ssl, "key.pem"), keyA);
    await runOk("openssl", [
      "req",
      "-x509",
      "-new",
      "-key",
      join(ssl, "key.pem"),
      "-subj",
      `/CN=${HOST}`,
      "-days",
      "2",
      "-out",
      join(ssl, "cert.pem"),
    ]);
    const skipped = await acme(other);
    expect(skipped.status).toBe(3);
    expect(skipped.stdout).toMatch(/skipping ACME client/);
  });
});

describe("a key rollover", () => {
  const root = freshMailcow("rollover");

  it("switches every copy mailcow serves from to the new key, and ACME issues for it", async () => {
    await tlsKeyStep(root, keyA);
    expect((await acme(root)).stdout).toContain("issued");
    expect(existsSync(join(root, "data", "assets", "ssl", HOST, "key.pem"))).toBe(true);

    const switched = await tlsKeyStep(root, keyB);
    expect(switched.restarts).toEqual(["compose restart acme-mailcow postfix-mailcow dovecot-mailcow nginx-mailcow"]);
    expect(switched.stdout).toMatch(new RegExp(`moved .*/${HOST.replace(/\./g, "\\.")}/ \\(another key\\)`));
    await expectEverywhere(root, keyB); // until ACME issues: the self-signed certificate for key b
    const backups = readdirSync(join(root, "data", "assets", "ssl", "backups"));
    expect(backups).toHaveLength(1);

    // mailcow's next loop: without the per-certificate key it takes acme/key.pem, the new key.
    const reissued = await acme(root);
    expect(reissued.stdout, reissued.stderr).toContain(`issued a certificate for ${HOST}`);
    await expectEverywhere(root, keyB);
    expect((await tlsKeyStep(root, keyB)).stdout).not.toContain("changed");
  });

  it("is what the old seeding missed: writing acme/key.pem and ssl/key.pem alone lets ACME put the old key back", async () => {
    const old = freshMailcow("old-seeding");
    await tlsKeyStep(old, keyA);
    await acme(old);
    const ssl = join(old, "data", "assets", "ssl");
    writeFileSync(join(ssl, "acme", "key.pem"), keyB);
    writeFileSync(join(ssl, "key.pem"), keyB);
    writeFileSync(join(ssl, "force_renew"), "");
    await acme(old);
    expect(await publicKeyOf(join(ssl, "key.pem"))).toBe(await runOk("openssl", ["pkey", "-pubout"], { input: keyA }));
  });
});
