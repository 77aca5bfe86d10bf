// Mail client autoconfiguration served by a real nginx, configured as mailcow's server block is
// (mailcow-dockerized 2026-07a data/conf/nginx/templates/sites-default.conf.j2: a regex location
// hands config-v1.1.xml to autoconfig.php at :141-147, site.*.custom files are included at :283):
// the stack's document wins for every path Thunderbird asks, and it offers only what the stack offers.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTOCONFIG_PATHS, AUTOCONFIG_XML_CONTAINER_PATH, autoconfigNginx, autoconfigXml } from "../render/autoconfig";
import { Daemon, freePort, waitFor } from "./lab";
import { runOk } from "./support/exec";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-autoconfig-"));
let port = 0;
let nginx: Daemon | undefined;

const services = { submission: false, pop3s: true, imap: false, pop3: false };
const xml = autoconfigXml({
  hostname: "mail.example.org",
  domains: ["example.org", "example.net"],
  services,
  webmail: true,
});

beforeAll(async () => {
  requireTool("nginx");
  port = await freePort();
  const confd = join(dir, "conf.d");
  mkdirSync(confd);
  // nginx's workers read the document (as in mailcow's container, where data/conf/nginx is 0755).
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, "logs"));
  writeFileSync(join(confd, "mailstack-autoconfig.xml"), xml);
  writeFileSync(
    join(confd, "site.mailstack-autoconfig.custom"),
    autoconfigNginx().replaceAll(AUTOCONFIG_XML_CONTAINER_PATH, join(confd, "mailstack-autoconfig.xml")),
  );
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/tmp-body;
  proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fastcgi;
  uwsgi_temp_path ${dir}/tmp-uwsgi;
  scgi_temp_path ${dir}/tmp-scgi;
  server {
    listen 127.0.0.1:${port};
    # mailcow's own handler (autoconfig.php in the real server block).
    location ~ /(?:m|M)ail/(?:c|C)onfig-v1.1.xml {
      default_type text/plain;
      return 200 "mailcow autoconfig.php\\n";
    }
    include ${confd}/site.*.custom;
  }
}
`,
  );
  await runOk("nginx", ["-t", "-p", dir, "-c", join(dir, "nginx.conf")]);
  nginx = Daemon.start("nginx", "nginx", ["-p", dir, "-c", join(dir, "nginx.conf")], dir);
  await waitFor("nginx", () => fetchText("/nonexistent").then(() => true));
});

afterAll(async () => {
  await nginx?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function fetchText(path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    }).on("error", reject);
  });
}

/** (type, port, socketType) of every server in the document, parsed by Python's XML parser. */
async function servers(document: string): Promise<string[]> {
  const script = `import sys, xml.etree.ElementTree as E
root = E.fromstring(sys.stdin.read())
for kind in ("incomingServer", "outgoingServer"):
    for s in root.iter(kind):
        print(s.get("type"), s.findtext("port"), s.findtext("socketType"), s.findtext("hostname"))`;
  return (await runOk("python3", ["-c", script], { input: document })).trim().split("\n");
}

describe("autoconfig through mailcow's nginx", () => {
  it("serves the stack's document instead of mailcow's for every path Thunderbird asks", async () => {
    for (const path of [...AUTOCONFIG_PATHS, "/mail/config-v1.1.xml?emailaddress=alice%40example.org"]) {
      const answer = await fetchText(path);
      expect(answer.status, path).toBe(200);
      expect(answer.type, path).toMatch(/application\/xml/);
      expect(answer.body, path).toBe(xml);
    }
  });

  it("offers implicit TLS and only the services the stack opens (no STARTTLS on loopback-bound 143 or 587)", async () => {
    expect(await servers(xml)).toEqual([
      "imap 993 SSL mail.example.org",
      "pop3 995 SSL mail.example.org",
      "smtp 465 SSL mail.example.org",
    ]);
    const all = autoconfigXml({
      hostname: "mail.example.org",
      domains: ["example.org"],
      services: { submission: true, pop3s: false, imap: true, pop3: false },
      webmail: false,
    });
    expect(await servers(all)).toEqual([
      "imap 993 SSL mail.example.org",
      "imap 143 STARTTLS mail.example.org",
      "smtp 465 SSL mail.example.org",
      "smtp 587 STARTTLS mail.example.org",
    ]);
    expect(all).not.toContain("webMail");
  });
});
