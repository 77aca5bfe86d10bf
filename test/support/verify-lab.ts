// The loopback lab `verify` is tested against: the planned prod stack served by real software.
// Knot signs the planned zone and a parent zone "de." that holds its DS (from dnssec-dsfromkey),
// plus unsigned reverse zones for both addresses; Unbound validates with de.'s KSK as the trust
// anchor and sends nothing anywhere but Knot. Postfix (25, 465, 587) and Dovecot (993, 995) run
// with the rendered TLS settings on a certificate for the stack's key from a lab CA; Node serves
// 443 and 80 for the host and the rendered MTA-STS Worker over HTTPS. --connect maps every port
// verify probes (planned and forbidden) at both public addresses to 127.0.0.1 and ::1.
import { generateKeyPairSync } from "node:crypto";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createTcpServer, type Server } from "node:net";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  dovecotExtraConf,
  postfixExtraCf,
  postfixOpensslCnf,
  SIGNATURE_ALGORITHMS,
  GROUPS,
  TLS12_CIPHERS,
} from "../../render/mailcow";
import { FORBIDDEN_PORTS, reverseName } from "../../verify/checks/ports";
import type { Report } from "../../verify/result";
import {
  type Daemon,
  freePort,
  postconfArguments,
  startDovecot,
  startKnot,
  startPostfix,
  startUnbound,
  type Knot,
  type Unbound,
} from "../lab";
import { planWithKeys, root } from "../plans";
import { run, runOk } from "./exec";

export const HOST = "mail.xd-cloud.de";
export const DOMAIN = "xd-cloud.de";
export const PARENT = "de";
export const IPV4 = "134.255.229.52";
export const IPV6 = "2a05:bec0:27:fd03::4";

/** Where the lab sends the ports that must stay closed (see setUp). */
const CLOSED_PORT = 1;

/** Postfix parameters of releases newer than the lab's (3.7): it would warn about them. */
const NEWER_POSTFIX = ["tls_ffdhe_auto_groups"];

export interface Certificate {
  readonly cert: string;
  readonly key: string;
  readonly pem: string;
}

/** A lab CA made with openssl; certificates get exact validity periods from `openssl ca`. */
export class LabCa {
  private constructor(
    readonly dir: string,
    readonly certFile: string,
    private readonly config: string,
  ) {}

  static async create(dir: string): Promise<LabCa> {
    const ca = join(dir, "ca");
    mkdirSync(join(ca, "new"), { recursive: true });
    writeFileSync(join(ca, "index.txt"), "");
    writeFileSync(join(ca, "serial"), "1000\n");
    const config = join(ca, "ca.cnf");
    writeFileSync(
      config,
      [
        "[ca]",
        "default_ca = lab",
        "[lab]",
        `database = ${join(ca, "index.txt")}`,
        `new_certs_dir = ${join(ca, "new")}`,
        `serial = ${join(ca, "serial")}`,
        `certificate = ${join(ca, "ca.pem")}`,
        `private_key = ${join(ca, "ca.key")}`,
        "default_md = sha256",
        "policy = any",
        "copy_extensions = copy",
        "unique_subject = no",
        "email_in_dn = no",
        "[any]",
        "commonName = supplied",
        "",
      ].join("\n"),
    );
    await runOk("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(ca, "ca.key"),
      "-out",
      join(ca, "ca.pem"),
      "-subj",
      "/CN=mailstack verify lab CA",
      "-days",
      "30",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    return new LabCa(ca, join(ca, "ca.pem"), config);
  }

  /** A certificate for `names` on `keyPem`, valid from `start` to `end` (openssl's YYYYMMDDHHMMSSZ). */
  async issue(
    name: string,
    keyPem: string,
    names: readonly string[],
    start: string,
    end: string,
  ): Promise<Certificate> {
    const key = join(this.dir, `${name}.key`);
    const csr = join(this.dir, `${name}.csr`);
    const cert = join(this.dir, `${name}.pem`);
    writeFileSync(key, keyPem, { mode: 0o600 });
    await runOk("openssl", [
      "req",
      "-new",
      "-key",
      key,
      "-subj",
      `/CN=${names[0] ?? name}`,
      "-addext",
      `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}`,
      "-out",
      csr,
    ]);
    await runOk("openssl", [
      "ca",
      "-batch",
      "-config",
      this.config,
      "-in",
      csr,
      "-out",
      cert,
      "-notext",
      "-startdate",
      start,
      "-enddate",
      end,
    ]);
    return { cert, key, pem: readFileSync(cert, "utf8") };
  }
}

const stamp = (date: Date) => `${date.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;
const days = (n: number) => new Date(Date.now() + n * 86_400_000);

export interface VerifyRun {
  readonly code: number | null;
  readonly report: Report;
  readonly stdout: string;
  readonly stderr: string;
}

export interface LabPorts {
  /** Lab port for each public port of the host, per family. */
  readonly public: Readonly<Record<number, number>>;
  /** The closed lab port for each forbidden port. */
  readonly closed: Readonly<Record<number, number>>;
}

function reverseZone(address: string, labels: number): { zone: string; owner: string } {
  const name = reverseName(address).split(".");
  return { zone: name.slice(labels).join("."), owner: name.slice(0, labels).join(".") };
}

export class VerifyLab {
  readonly daemons: Daemon[] = [];
  readonly servers: (Server | HttpServer)[] = [];
  stopPostfix: () => Promise<void> = () => Promise.resolve();
  reloadPostfix: () => Promise<void> = () => Promise.resolve();
  postfixConf = "";
  knot!: Knot;
  bogusKnot?: Knot;
  unbound!: Unbound;
  outputsFile = "";
  anchorFile = "";
  zoneText = "";
  parentText = "";
  ds = "";
  ports!: LabPorts;
  stsPort = 0;
  mailKeyPem = "";
  mailCert!: Certificate;
  expiredCert!: Certificate;
  ca!: LabCa;
  plan!: Awaited<ReturnType<typeof planWithKeys>>;

  private constructor(readonly dir: string) {}

  static async start(): Promise<VerifyLab> {
    const lab = new VerifyLab(mkdtempSync(join(tmpdir(), "mailstack-verify-lab-")));
    try {
      await lab.setUp();
    } catch (error) {
      await lab.stop();
      throw error;
    }
    return lab;
  }

  private async setUp(): Promise<void> {
    const dir = this.dir;
    this.plan = await planWithKeys();
    const file = (path: string) => this.plan.result.files.find((f) => f.path === path)?.content ?? "";
    this.zoneText = file(`dns/${DOMAIN}.zone`);
    this.mailKeyPem = String(this.plan.keys.get("mail-tls-key-a")?.privateKeyPem);

    // DNS: the planned zone signed, its parent with the DS, reverse zones.
    const v4 = reverseZone(IPV4, 1);
    const v6 = reverseZone(IPV6, 16);
    const soa =
      "@ 3600 IN SOA ns.lab.invalid. hostmaster.lab.invalid. 1 3600 600 86400 300\n@ 3600 IN NS ns.lab.invalid.\n";
    const reverse = (zone: string, owner: string) =>
      `$ORIGIN ${zone}.\n$TTL 3600\n${soa}${owner} 3600 IN PTR ${HOST}.\n`;
    this.parentText = `$ORIGIN ${PARENT}.\n$TTL 3600\n${soa}${DOMAIN}. 3600 IN NS ada.ns.cloudflare.com.\n${DOMAIN}. 3600 IN NS bob.ns.cloudflare.com.\n`;
    this.knot = await startKnot(dir, [
      // The parent signs with RSA/SHA-256 like .de and the root; the zone with ECDSA P-256 like Cloudflare.
      { name: PARENT, signed: true, algorithm: "rsasha256", text: this.parentText },
      { name: DOMAIN, signed: true, text: this.zoneText },
      { name: v4.zone, signed: false, text: reverse(v4.zone, v4.owner) },
      { name: v6.zone, signed: false, text: reverse(v6.zone, v6.owner) },
    ]);
    this.daemons.push(this.knot.daemon);
    const kskFile = join(dir, "child-ksk.zone");
    writeFileSync(kskFile, `${DOMAIN}. 3600 IN DNSKEY ${await this.knot.ksk(DOMAIN)}\n`);
    // The DS as the registrar publishes it, made by BIND's tool (independent of verify's own digest).
    this.ds = (await runOk("dnssec-dsfromkey", ["-2", "-f", kskFile, DOMAIN])).trim();
    this.parentText += `${this.ds.replace(/\s+IN\s+DS\s+/, " 3600 IN DS ")}\n`;
    await this.knot.load(PARENT, this.parentText);
    this.anchorFile = join(dir, "trust-anchor.key");
    writeFileSync(this.anchorFile, `${PARENT}. IN DNSKEY ${await this.knot.ksk(PARENT)}\n`);
    this.unbound = await startUnbound(
      dir,
      {
        name: "unbound",
        knotPort: this.knot.port,
        anchors: readFileSync(this.anchorFile, "utf8"),
        stubs: [PARENT, DOMAIN, v4.zone, v6.zone],
        guardRoot: true,
        control: true,
      },
      DOMAIN,
    );
    this.daemons.push(this.unbound.daemon);

    // The stack outputs as `pulumi stack output --json` shows them after `pulumi up`.
    const outputs = JSON.parse(file("outputs.json")) as { zones: Record<string, { ds?: string }> };
    const zoneOutputs = outputs.zones[DOMAIN];
    if (zoneOutputs) zoneOutputs.ds = this.ds.replace(/\s+IN\s+DS\s+/, " 3600 IN DS ");
    this.outputsFile = join(dir, "outputs.json");
    writeFileSync(this.outputsFile, JSON.stringify(outputs, null, 2));

    // Certificates from the lab CA.
    this.ca = await LabCa.create(dir);
    const names = [HOST, `autoconfig.${DOMAIN}`, `autodiscover.${DOMAIN}`];
    this.mailCert = await this.ca.issue("mail", this.mailKeyPem, names, stamp(days(-1)), stamp(days(89)));
    this.expiredCert = await this.ca.issue("mail-expired", this.mailKeyPem, names, stamp(days(-120)), stamp(days(-30)));
    const stsKey = generateKeyPairSync("ec", { namedCurve: "prime256v1" })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString();
    const stsCert = await this.ca.issue("mta-sts", stsKey, [`mta-sts.${DOMAIN}`], stamp(days(-1)), stamp(days(89)));

    // Mail servers with the rendered settings.
    const publicPorts: Record<number, number> = {};
    for (const port of [25, 80, 443, 465, 587, 993, 995]) publicPorts[port] = await freePort();
    // The ports that must not answer go to port 1 (tcpmux, which nothing serves; only root could
    // bind it): a free high port could be taken by another test on the machine in the meantime.
    const closed: Record<number, number> = {};
    for (const port of Object.keys(FORBIDDEN_PORTS)) closed[Number(port)] = CLOSED_PORT;
    this.ports = { public: publicPorts, closed };
    const postfixDefaults = new Set(
      (await runOk("postconf", ["-d"])).split("\n").map((line) => line.split(" = ")[0] ?? ""),
    );
    const known = (setting: string) => {
      const name = setting.split("=")[0] ?? "";
      return postfixDefaults.has(name) || !NEWER_POSTFIX.includes(name);
    };
    writeFileSync(join(dir, "openssl.cnf"), postfixOpensslCnf("1.2"));
    const postfix = await startPostfix(
      dir,
      publicPorts[25] ?? 0,
      [
        `myhostname=${HOST}`,
        `smtpd_tls_cert_file=${this.mailCert.cert}`,
        `smtpd_tls_key_file=${this.mailCert.key}`,
        "smtpd_tls_security_level=may",
        ...postconfArguments(
          postfixExtraCf({ hostname: HOST, minVersion: "1.2", opensslConfig: join(dir, "openssl.cnf") }),
        ).filter(known),
      ],
      {
        ipv6: true,
        // The TLS settings of mailcow's smtps and submission services (mailcow-dockerized 2026-07a
        // data/conf/postfix/master.cf:12-33): their minimum comes from the smtps_/submission_ parameters.
        services: [
          {
            port: publicPorts[465] ?? 0,
            overrides: [
              "smtpd_tls_wrappermode=yes",
              "smtpd_tls_mandatory_protocols=$smtps_smtpd_tls_mandatory_protocols",
              "tls_preempt_cipherlist=yes",
            ],
          },
          {
            port: publicPorts[587] ?? 0,
            overrides: [
              "smtpd_tls_security_level=encrypt",
              "smtpd_tls_mandatory_protocols=$submission_smtpd_tls_mandatory_protocols",
              "tls_preempt_cipherlist=yes",
            ],
          },
        ],
      },
    );
    this.stopPostfix = postfix.stop;
    this.reloadPostfix = postfix.reload;
    this.postfixConf = postfix.conf;
    this.daemons.push(
      await startDovecot(join(dir, "dovecot"), {
        cert: this.mailCert.cert,
        key: this.mailCert.key,
        extraConf: dovecotExtraConf("1.2"),
        imaps: publicPorts[993] ?? 0,
        pop3s: publicPorts[995] ?? 0,
        ipv6: true,
      }),
    );

    // 443 of the host (a stand-in for mailcow's nginx, with the rendered TLS settings) and 80.
    const tlsOptions = {
      key: this.mailKeyPem,
      cert: this.mailCert.pem,
      minVersion: "TLSv1.2" as const,
      ciphers: TLS12_CIPHERS,
      ecdhCurve: GROUPS,
      sigalgs: SIGNATURE_ALGORITHMS,
      honorCipherOrder: true,
    };
    for (const host of ["127.0.0.1", "::1"]) {
      const https = createHttpsServer(tlsOptions, (_req, res) => res.end("mailcow\n"));
      const http = createHttpServer((req, res) => {
        res.writeHead(301, { location: `https://${HOST}${req.url ?? "/"}` });
        res.end();
      });
      await new Promise<void>((done) => https.listen(publicPorts[443], host, done));
      await new Promise<void>((done) => http.listen(publicPorts[80], host, done));
      this.servers.push(https, http);
    }

    // The MTA-STS Worker the stack deploys, behind HTTPS.
    const script = this.plan.result.run.resources.find(
      (r) => r.type === "cloudflare:index/workersScript:WorkersScript" && r.name === `${DOMAIN}-mta-sts`,
    );
    const workerFile = join(dir, "mta-sts-worker.mjs");
    writeFileSync(workerFile, String(script?.inputs.content));
    const worker = (
      (await import(pathToFileURL(workerFile).href)) as { default: { fetch: (r: Request) => Promise<Response> } }
    ).default;
    const sts = createHttpsServer({ key: stsKey, cert: stsCert.pem }, (req, res) => {
      void worker
        .fetch(new Request(`https://${req.headers.host ?? ""}${req.url ?? "/"}`, { method: req.method ?? "GET" }))
        .then(async (response) => {
          res.writeHead(response.status, Object.fromEntries(response.headers));
          res.end(Buffer.from(await response.arrayBuffer()));
        });
    });
    this.stsPort = await freePort();
    await new Promise<void>((done) => sts.listen(this.stsPort, "127.0.0.1", done));
    this.servers.push(sts);
  }

  /** --connect rules: every probed port at both public addresses to the lab (override: port → lab port). */
  connect(overrides: Readonly<Record<number, number>> = {}): string[] {
    const rules: string[] = [`mta-sts.${DOMAIN}:443=127.0.0.1:${this.stsPort}`];
    for (const [address, loopback] of [
      [IPV4, "127.0.0.1"],
      [`[${IPV6}]`, "[::1]"],
    ] as const) {
      for (const [port, labPort] of Object.entries({ ...this.ports.public, ...this.ports.closed, ...overrides })) {
        rules.push(`${address}:${port}=${loopback}:${labPort}`);
      }
    }
    return rules.flatMap((rule) => ["--connect", rule]);
  }

  /** Runs the verify CLI against the lab with --json. */
  async verify(options: { overrides?: Record<number, number>; extra?: readonly string[] } = {}): Promise<VerifyRun> {
    const args = [
      "--require",
      "tsx/cjs",
      join(root, "verify", "cli.ts"),
      "--outputs",
      this.outputsFile,
      "--resolver",
      `127.0.0.1:${this.unbound.port}`,
      "--trust-anchor",
      this.anchorFile,
      "--ca",
      this.ca.certFile,
      "--json",
      ...this.connect(options.overrides),
      ...(options.extra ?? []),
    ];
    const result = await run(process.execPath, args, { cwd: root, timeoutMs: 180_000 });
    let report: Report;
    try {
      report = JSON.parse(result.stdout) as Report;
    } catch {
      throw new Error(
        `verify printed no JSON report (exit ${String(result.status)}):\n${result.stderr}\n${result.stdout}`,
      );
    }
    return { code: result.status, report, stdout: result.stdout, stderr: result.stderr };
  }

  /** Serves the zone with `change` applied (signed by Knot) and empties the resolver's cache. */
  async changeZone(zone: "child" | "parent", change: (text: string) => string): Promise<void> {
    if (zone === "child") await this.knot.load(DOMAIN, change(this.zoneText));
    else await this.knot.load(PARENT, change(this.parentText));
    await this.unbound.reload();
  }

  /**
   * Serves the zone as Knot signed it, but with the RRSIG over `type` at `owner` broken, from a
   * second Knot that does not sign; the resolver asks that one until `restoreSignatures`.
   */
  async breakSignature(owner: string, type: string): Promise<void> {
    const signed = await this.knot.read(DOMAIN);
    let broken = 0;
    const text = signed
      .split("\n")
      .map((line) => {
        const fields = line.split(/\s+/);
        if (fields[0]?.toLowerCase() !== `${owner}.` || fields[2] !== "RRSIG" || fields[3] !== type) return line;
        const signature = Buffer.from(fields.slice(11).join(""), "base64");
        signature[10] = (signature[10] ?? 0) ^ 0xff;
        broken++;
        return [...fields.slice(0, 11), signature.toString("base64")].join(" ");
      })
      .join("\n");
    if (broken === 0) throw new Error(`no RRSIG ${type} at ${owner} in:\n${signed}`);
    if (this.bogusKnot) await this.bogusKnot.load(DOMAIN, text);
    else {
      this.bogusKnot = await startKnot(this.dir, [{ name: DOMAIN, signed: false, text }], "knot-bad");
      this.daemons.push(this.bogusKnot.daemon);
    }
    await this.unbound.restub(DOMAIN, this.bogusKnot.port);
  }

  async restoreSignatures(): Promise<void> {
    await this.unbound.restub(DOMAIN);
  }

  async restoreZones(): Promise<void> {
    await this.knot.load(DOMAIN, this.zoneText);
    await this.knot.load(PARENT, this.parentText);
    await this.unbound.reload();
  }

  async postconf(settings: readonly string[]): Promise<void> {
    await runOk("postconf", ["-c", this.postfixConf, "-e", ...settings]);
    await this.reloadPostfix();
  }

  /** A TCP listener on a free loopback port (IPv4 and IPv6), for an "extra open port". */
  async openPort(): Promise<number> {
    const port = await freePort();
    for (const host of ["127.0.0.1", "::1"]) {
      const server = createTcpServer((socket) => {
        socket.on("error", () => undefined); // probes hang up at once
        socket.end("* OK\r\n");
      });
      await new Promise<void>((done) => server.listen(port, host, done));
      this.servers.push(server);
    }
    return port;
  }

  async stop(): Promise<void> {
    await this.stopPostfix();
    await Promise.all(this.daemons.map((daemon) => daemon.stop()));
    await Promise.all(this.servers.map((server) => new Promise((done) => server.close(done))));
    if (!process.env.KEEP_LAB) rmSync(this.dir, { recursive: true, force: true });
  }
}
