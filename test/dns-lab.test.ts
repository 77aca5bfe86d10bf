// MailDnsZone proven with real DNS and mail software: the zone files the offline plan writes
// are served by Knot (DNSSEC-signed, algorithm 13 like Cloudflare) behind a validating Unbound;
// mailauth checks SPF, DKIM, DMARC and MTA-STS through that resolver; openssl checks DANE
// against a STARTTLS server that uses the stack's TLS key. All servers are shared by this file.
import { spawn } from "node:child_process";
import { createHash, generateKeyPair, generateKeyPairSync } from "node:crypto";
import { promises as dns } from "node:dns";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TLSSocket } from "node:tls";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { authenticate, dkimSign, dkimVerify, spf } from "mailauth";
import { parsePolicy, resolvePolicy, validateMx } from "mailauth/lib/mta-sts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Generated } from "../plan/local-values";
import type { PlanResult } from "../plan/run";
import { MTA_STS_PATH } from "../render/mta-sts-worker";
import { freePort, kdig, selfSignedCertificate, startKnot, startUnbound, waitFor, type Daemon } from "./lab";
import { planWithKeys } from "./plans";
import { runOk } from "./support/exec";
import { requireTool } from "./tools";

const generateKeyPairAsync = promisify(generateKeyPair);
const HOST = "mail.xd-cloud.de";
const DOMAIN = "xd-cloud.de";
const SECOND = "xd-mail.eu";

const dir = mkdtempSync(join(tmpdir(), "mailstack-dns-lab-"));
let keys: ReadonlyMap<string, Generated> = new Map();
const daemons: Daemon[] = [];
const servers: Server[] = [];
let plan: PlanResult;
let zones: { name: string; file: string; text: string }[] = [];
let resolverPort = 0;
let bogusResolverPort = 0;
let resolver: (name: string, rrtype: string) => Promise<string[][] | string[]>;

beforeAll(async () => {
  // The prod stack plus a second hosted domain whose DMARC reports go to the first.
  const planned = await planWithKeys({
    "mailstack:domains": JSON.stringify([
      {
        name: DOMAIN,
        zoneId: "b2c0cd330f2aec3ee83a4e26ee4f964f",
        nameServers: ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
        mailboxes: [{ localPart: "admin" }],
      },
      { name: SECOND, zoneId: "9eee3d33d906a9ff88e49080a057dc02" },
    ]),
  });
  plan = planned.result;
  keys = planned.keys;
  zones = plan.files
    .filter((file) => file.path.startsWith("dns/"))
    .map((file) => ({
      name: file.path.slice(4, -5),
      file: join(dir, "zones", `${file.path.slice(4, -5)}.zone`),
      text: file.content,
    }));
  const names = zones.map((zone) => zone.name);
  const knot = await startKnot(
    dir,
    zones.map((zone) => ({ name: zone.name, signed: true, text: zone.text })),
  );
  daemons.push(knot.daemon);
  // Knot signs each zone on load; the KSK (flags 257) becomes the trust anchor.
  const anchors = await Promise.all(names.map(async (name) => `${name}. IN DNSKEY ${await knot.ksk(name)}`));

  const unbound = await startUnbound(
    dir,
    { name: "unbound", knotPort: knot.port, anchors: `${anchors.join("\n")}\n`, stubs: names },
    DOMAIN,
  );
  daemons.push(unbound.daemon);
  resolverPort = unbound.port;
  // A second resolver whose trust anchor for the mail domain is a different key: it must refuse.
  const wrongKey = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey.export({
    format: "der",
    type: "spki",
  });
  const bogus = await startUnbound(
    dir,
    {
      name: "bogus",
      knotPort: knot.port,
      anchors: `${DOMAIN}. IN DNSKEY 257 3 13 ${wrongKey.subarray(-64).toString("base64")}\n`,
      stubs: [DOMAIN],
    },
    DOMAIN,
  );
  daemons.push(bogus.daemon);
  bogusResolverPort = bogus.port;
  await waitFor("a validated answer from Unbound", async () =>
    (await kdig(resolverPort, DOMAIN, "SOA")).flags.includes("ad") ? true : undefined,
  );

  const nodeResolver = new dns.Resolver({ timeout: 3000, tries: 2 });
  nodeResolver.setServers([`127.0.0.1:${resolverPort}`]);
  resolver = (name, rrtype) => nodeResolver.resolve(name, rrtype) as Promise<string[][] | string[]>;
});

afterAll(async () => {
  await Promise.all(daemons.map((daemon) => daemon.stop()));
  await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
  if (!process.env.KEEP_LAB) rmSync(dir, { recursive: true, force: true });
});

/** (name, type) → rdata strings of the managed records in a zone file. */
function managedRecords(text: string): Map<string, string[]> {
  const records = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const match = /^(\S+\.) (\d+) IN (\S+) (.*)$/.exec(line);
    if (!match || match[1] === "@") continue;
    const key = `${match[1]} ${match[3]}`;
    records.set(key, [...(records.get(key) ?? []), match[4] ?? ""]);
  }
  return records;
}

describe("the exported zone files", () => {
  it("cover both zones and are accepted by named-checkzone", async () => {
    expect(zones.map((zone) => zone.name).sort()).toEqual([DOMAIN, SECOND]);
    requireTool("named-checkzone");
    for (const zone of zones) {
      expect(await runOk("named-checkzone", ["-i", "local", zone.name, zone.file])).toMatch(/OK/);
    }
  });

  it("validate through Unbound: every managed record answers with the AD flag and its data", async () => {
    let checked = 0;
    for (const zone of zones) {
      for (const [key, expected] of managedRecords(zone.text)) {
        const [name = "", type = ""] = key.split(" ");
        const answer = await kdig(resolverPort, name, type);
        expect(answer.status, key).toBe("NOERROR");
        expect(answer.flags, key).toContain("ad");
        const data = answer.answers
          .filter((a) => a.type === type)
          .map((a) => a.data.toLowerCase().replace(/\s+/g, " "));
        expect(data.sort(), key).toEqual(expected.map((d) => d.toLowerCase().replace(/\s+/g, " ")).sort());
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it("are refused by a resolver that trusts another key (so the AD flag above means something)", async () => {
    expect((await kdig(bogusResolverPort, DOMAIN, "MX")).status).toBe("SERVFAIL");
  });

  it("authorise the second domain's DMARC reports at the first", async () => {
    const answer = await kdig(resolverPort, `${SECOND}._report._dmarc.${DOMAIN}`, "TXT");
    expect(answer.flags).toContain("ad");
    expect(answer.answers.map((a) => a.data)).toContain('"v=DMARC1"');
  });
});

describe("mail authentication through the validating resolver (mailauth)", () => {
  it("passes SPF for the host's IPv4 and IPv6 and fails any other address", async () => {
    const check = async (ip: string) =>
      (await spf({ sender: `admin@${DOMAIN}`, ip, helo: HOST, mta: "mx.receiver.example", resolver })).status.result;
    expect(await check("134.255.229.52")).toBe("pass");
    expect(await check("2a05:bec0:27:fd03::4")).toBe("pass");
    expect(await check("134.255.229.53")).toBe("fail");
    expect(await check("2a05:bec0:27:fd03::5")).toBe("fail");
  });

  it("passes SPF for the HELO name when the envelope sender is empty (bounces)", async () => {
    const result = await spf({ sender: "", ip: "134.255.229.52", helo: HOST, mta: "mx.receiver.example", resolver });
    expect(result.status.result).toBe("pass");
  });

  const message = [
    `From: Admin <admin@${DOMAIN}>`,
    "To: Bob <bob@receiver.example>",
    "Subject: mailstack lab",
    "Date: Fri, 27 Nov 2026 12:00:00 +0000",
    `Message-ID: <lab-1@${DOMAIN}>`,
    "",
    "DKIM, DMARC and the published key belong together.",
    "",
  ].join("\r\n");

  async function signed(): Promise<string> {
    const privateKey = String(keys.get(`dkim-key-${DOMAIN}`)?.privateKeyPemPkcs8);
    const signature = { signingDomain: DOMAIN, selector: "dkim", privateKey, canonicalization: "relaxed/relaxed" };
    // mailauth 4.x signs with the entries of signatureData.
    const result = await dkimSign(message, { ...signature, signatureData: [signature] });
    expect(result.errors).toEqual([]);
    return result.signatures + message;
  }

  it("verifies a message signed with the stack's DKIM key against the published record", async () => {
    const result = await dkimVerify(await signed(), { resolver });
    expect(result.results.map((r) => [r.signingDomain, r.status.result])).toEqual([[DOMAIN, "pass"]]);
  });

  it("fails DKIM for a tampered message", async () => {
    const tampered = (await signed()).replace("belong together", "were tampered with");
    const result = await dkimVerify(tampered, { resolver });
    // mailauth reports a body hash mismatch as "neutral" (no valid signature): never "pass".
    expect(result.results[0]?.status).toMatchObject({ result: "neutral", comment: "body hash did not verify" });
  });

  it("applies the configured DMARC policy: pass when aligned, reject otherwise", async () => {
    const good = await authenticate(await signed(), {
      ip: "134.255.229.52",
      helo: HOST,
      sender: `admin@${DOMAIN}`,
      mta: "mx.receiver.example",
      resolver,
    });
    expect(good.dmarc).toMatchObject({ policy: "reject", p: "reject", status: { result: "pass" } });
    const forged = await authenticate(message, {
      ip: "198.51.100.7",
      helo: "forger.example",
      sender: `admin@${DOMAIN}`,
      mta: "mx.receiver.example",
      resolver,
    });
    expect(forged.dmarc).toMatchObject({ policy: "reject", status: { result: "fail" } });
  });
});

/** A minimal SMTP server on loopback that offers STARTTLS with the given key and certificate. */
async function startTlsSmtpServer(key: string, cert: string): Promise<number> {
  const server = createServer((socket: Socket) => {
    socket.on("error", () => undefined);
    socket.write(`220 ${HOST} ESMTP mailstack-lab\r\n`);
    let buffer = "";
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString("latin1");
      for (let end = buffer.indexOf("\r\n"); end >= 0; end = buffer.indexOf("\r\n")) {
        const verb = buffer.slice(0, end).split(" ")[0]?.toUpperCase();
        buffer = buffer.slice(end + 2);
        if (verb === "EHLO") socket.write(`250-${HOST}\r\n250 STARTTLS\r\n`);
        else if (verb === "STARTTLS") {
          socket.off("data", onData);
          socket.write("220 2.0.0 Ready to start TLS\r\n", () => {
            const secure = new TLSSocket(socket, { isServer: true, key, cert });
            secure.on("error", () => undefined);
            secure.on("data", () => secure.end("221 2.0.0 Bye\r\n"));
          });
          return;
        } else if (verb === "QUIT") socket.end("221 2.0.0 Bye\r\n");
        else socket.write("502 5.5.2 Command not implemented\r\n");
      }
    };
    socket.on("data", onData);
  });
  servers.push(server);
  const port = await freePort();
  await new Promise<void>((done) => server.listen(port, "127.0.0.1", done));
  return port;
}

/** openssl s_client with DANE (asynchronously: the SMTP server runs in this process). */
function daneCheck(port: number, rrdata: string): Promise<string> {
  const args = ["s_client", "-connect", `127.0.0.1:${port}`, "-starttls", "smtp", "-servername", HOST];
  return new Promise((done, fail) => {
    const child = spawn("openssl", [...args, "-dane_tlsa_domain", HOST, "-dane_tlsa_rrdata", rrdata], {
      timeout: 20_000,
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", fail);
    child.on("close", () => done(output));
    child.stdin.end();
  });
}

describe("DANE", () => {
  it("the validated TLSA record matches a STARTTLS server using the stack's TLS key", async () => {
    const answer = await kdig(resolverPort, `_25._tcp.${HOST}`, "TLSA");
    expect(answer.flags).toContain("ad");
    const [rrdata] = answer.answers.filter((a) => a.type === "TLSA").map((a) => a.data);
    expect(rrdata).toMatch(/^3 1 1 [0-9A-F]{64}$/i);

    const key = String(keys.get("mail-tls-key-a")?.privateKeyPem);
    const port = await startTlsSmtpServer(key, (await selfSignedCertificate(dir, "stack", key, HOST)).pem);
    const output = await daneCheck(port, rrdata ?? "");
    expect(output).toMatch(/DANE TLSA 3 1 1 .*matched EE certificate/);
    expect(output).toMatch(/Verify return code: 0 \(ok\)/);
  });

  it("does not match a server that uses another key", async () => {
    const [rrdata] = (await kdig(resolverPort, `_25._tcp.${HOST}`, "TLSA")).answers
      .filter((a) => a.type === "TLSA")
      .map((a) => a.data);
    const other = (await generateKeyPairAsync("rsa", { modulusLength: 2048 })).privateKey
      .export({ format: "pem", type: "pkcs8" })
      .toString();
    const port = await startTlsSmtpServer(other, (await selfSignedCertificate(dir, "other", other, HOST)).pem);
    const output = await daneCheck(port, rrdata ?? "");
    expect(output).not.toMatch(/matched EE certificate/);
    expect(output).toMatch(/Verify return code: 65 \(no matching DANE TLSA records\)/i);
  });
});

describe("MTA-STS", () => {
  async function worker(): Promise<{ fetch: (request: Request) => Promise<Response> }> {
    const script = plan.run.resources.find(
      (r) => r.type === "cloudflare:index/workersScript:WorkersScript" && r.name === `${DOMAIN}-mta-sts`,
    );
    const file = join(dir, "mta-sts-worker.mjs");
    writeFileSync(file, String(script?.inputs.content));
    const module = (await import(pathToFileURL(file).href)) as {
      default: { fetch: (request: Request) => Promise<Response> };
    };
    return module.default;
  }

  it("the Worker serves the policy as text/plain that mailauth accepts with the configured mode, mx and max_age", async () => {
    const response = await (await worker()).fetch(new Request(`https://mta-sts.${DOMAIN}${MTA_STS_PATH}`));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await response.text();
    const policy = parsePolicy(text);
    expect(policy).toMatchObject({ version: "STSv1", mode: "enforce", mx: [HOST], maxAge: 1209600 });
    expect(validateMx(HOST, policy).valid).toBe(true);
    expect(validateMx("mail.attacker.example", policy).valid).toBe(false);

    // The _mta-sts id published in DNS is the hash of exactly this text.
    const id = await resolvePolicy(DOMAIN, { resolver });
    expect(id).toBe(createHash("sha256").update(text).digest("hex").slice(0, 32));
  });

  it("the Worker answers nothing else: 404 elsewhere, 405 for writes, HTTPS only", async () => {
    const handler = await worker();
    expect((await handler.fetch(new Request(`https://mta-sts.${DOMAIN}/`))).status).toBe(404);
    expect(
      (await handler.fetch(new Request(`https://mta-sts.${DOMAIN}${MTA_STS_PATH}`, { method: "POST", body: "x" })))
        .status,
    ).toBe(405);
    const plainHttp = await handler.fetch(new Request(`http://mta-sts.${DOMAIN}${MTA_STS_PATH}`));
    expect(plainHttp.status).toBe(301);
    expect(plainHttp.headers.get("location")).toBe(`https://mta-sts.${DOMAIN}${MTA_STS_PATH}`);
  });
});
