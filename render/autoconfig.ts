// Mail client autoconfiguration (Thunderbird's config-v1.1.xml) that offers only what the stack
// offers (pure). mailcow's own autoconfig.php always advertises IMAP STARTTLS on IMAP_PORT and SMTP
// STARTTLS on SUBMISSION_PORT, taking the digits after the last ":" (so 127.0.0.1:143 is still
// advertised as 143), and hides POP3 only behind SRV "." records (mailcow-dockerized 2026-07a:
// data/web/autoconfig.php:35-86, data/web/inc/vars.inc.php:35-74). vars.local.inc.php can change
// values but not drop those entries, so nginx serves this document instead: a site.*.custom file is
// included in every server block (data/conf/nginx/templates/sites-default.conf.j2:283) and an exact
// `location =` wins over mailcow's regex location for config-v1.1.xml (:141-147).

export interface AutoconfigInput {
  readonly hostname: string;
  readonly domains: readonly string[];
  readonly services: {
    readonly submission: boolean;
    readonly pop3s: boolean;
    readonly imap: boolean;
    readonly pop3: boolean;
  };
  /** SOGo serves webmail (the document links it). */
  readonly webmail: boolean;
}

/** The paths Thunderbird asks for; mailcow's regex matches mail/Mail and config/Config. */
export const AUTOCONFIG_PATHS = [
  "/mail/config-v1.1.xml",
  "/Mail/config-v1.1.xml",
  "/mail/Config-v1.1.xml",
  "/Mail/Config-v1.1.xml",
  "/.well-known/autoconfig/mail/config-v1.1.xml",
] as const;

/** Inside the nginx container: data/conf/nginx is mounted at /etc/nginx/conf.d (docker-compose.yml). */
export const AUTOCONFIG_XML_CONTAINER_PATH = "/etc/nginx/conf.d/mailstack-autoconfig.xml";

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

interface Server {
  readonly direction: "incomingServer" | "outgoingServer";
  readonly type: "imap" | "pop3" | "smtp";
  readonly port: number;
  readonly socketType: "SSL" | "STARTTLS";
}

/** The servers a client may use, implicit TLS first (RFC 8314). */
export function offeredServers(services: AutoconfigInput["services"]): Server[] {
  return [
    { direction: "incomingServer", type: "imap", port: 993, socketType: "SSL" } as const,
    ...(services.imap
      ? [{ direction: "incomingServer", type: "imap", port: 143, socketType: "STARTTLS" } as const]
      : []),
    ...(services.pop3s ? [{ direction: "incomingServer", type: "pop3", port: 995, socketType: "SSL" } as const] : []),
    ...(services.pop3
      ? [{ direction: "incomingServer", type: "pop3", port: 110, socketType: "STARTTLS" } as const]
      : []),
    { direction: "outgoingServer", type: "smtp", port: 465, socketType: "SSL" } as const,
    ...(services.submission
      ? [{ direction: "outgoingServer", type: "smtp", port: 587, socketType: "STARTTLS" } as const]
      : []),
  ];
}

export function autoconfigXml(input: AutoconfigInput): string {
  const host = escapeXml(input.hostname);
  const servers = offeredServers(input.services).map((server) =>
    [
      `    <${server.direction} type="${server.type}">`,
      `      <hostname>${host}</hostname>`,
      `      <port>${server.port}</port>`,
      `      <socketType>${server.socketType}</socketType>`,
      "      <username>%EMAILADDRESS%</username>",
      "      <authentication>password-cleartext</authentication>",
      `    </${server.direction}>`,
    ].join("\n"),
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    "<!-- mailstack: the services this mail host offers; rendered, do not edit on the host. -->",
    '<clientConfig version="1.1">',
    `  <emailProvider id="${host}">`,
    ...input.domains.map((domain) => `    <domain>${escapeXml(domain)}</domain>`),
    `    <displayName>${host}</displayName>`,
    `    <displayShortName>${host}</displayShortName>`,
    ...servers,
    "  </emailProvider>",
    ...(input.webmail ? ["  <webMail>", `    <loginPage url="https://${host}/SOGo/" />`, "  </webMail>"] : []),
    "</clientConfig>",
    "",
  ].join("\n");
}

/** data/conf/nginx/site.mailstack-autoconfig.custom: exact locations serving the document. */
export function autoconfigNginx(): string {
  return [
    "# mailstack: Thunderbird autoconfig with only the services the stack offers (see mailstack-autoconfig.xml).",
    ...AUTOCONFIG_PATHS.map(
      (path) =>
        `location = ${path} {\n  default_type application/xml;\n  add_header Cache-Control "no-cache" always;\n  alias ${AUTOCONFIG_XML_CONTAINER_PATH};\n}`,
    ),
    "",
  ].join("\n");
}
