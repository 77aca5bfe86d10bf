// The service endpoints and URLs the stack offers, derived from the configuration (pure).

export type Security = "starttls" | "implicit-tls" | "https";

export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly security: Security;
}

export interface Endpoints {
  /** Inbound SMTP (MX) with STARTTLS, and the port DANE is published for. */
  readonly smtp: Endpoint;
  /** Message submission with implicit TLS (RFC 8314). */
  readonly submissions: Endpoint;
  readonly submission?: Endpoint;
  readonly imaps: Endpoint;
  readonly imap?: Endpoint;
  readonly pop3s?: Endpoint;
  readonly pop3?: Endpoint;
  readonly sieve?: Endpoint;
  readonly https: Endpoint;
}

/** The optional mail services (mailstack:services); the others are always offered. */
export interface MailServices {
  readonly submission: boolean;
  readonly pop3s: boolean;
  readonly imap: boolean;
  readonly pop3: boolean;
  readonly sieve: boolean;
}

/** A mail service a client reaches on the mail host: the endpoint and its SRV record (RFC 6186, RFC 8314). */
export interface MailService {
  /** The SRV service name (`_<name>._tcp`) and the endpoint's key. */
  readonly name: Exclude<keyof Endpoints, "smtp" | "https">;
  readonly port: number;
  readonly security: Security;
  /** The mailstack:services switch that offers it; absent: always offered. */
  readonly option?: keyof MailServices;
  /** What it is, for the SRV record's comment. */
  readonly description: string;
}

/** Every mail service a client reaches, in the order the endpoints and SRV records list them. */
export const MAIL_SERVICES: readonly MailService[] = [
  { name: "submissions", port: 465, security: "implicit-tls", description: "message submission over implicit TLS" },
  {
    name: "submission",
    port: 587,
    security: "starttls",
    option: "submission",
    description: "message submission with STARTTLS",
  },
  { name: "imaps", port: 993, security: "implicit-tls", description: "IMAP over implicit TLS" },
  { name: "imap", port: 143, security: "starttls", option: "imap", description: "IMAP with STARTTLS" },
  { name: "pop3s", port: 995, security: "implicit-tls", option: "pop3s", description: "POP3 over implicit TLS" },
  { name: "pop3", port: 110, security: "starttls", option: "pop3", description: "POP3 with STARTTLS" },
  { name: "sieve", port: 4190, security: "starttls", option: "sieve", description: "ManageSieve" },
];

/** Whether the configuration offers the service. */
export function offers(services: MailServices, service: MailService): boolean {
  return service.option === undefined || services[service.option];
}

export function serviceEndpoints(config: { readonly hostname: string; readonly services: MailServices }): Endpoints {
  const host = config.hostname;
  const at = (port: number, security: Security): Endpoint => ({ host, port, security });
  const endpoints: Record<string, Endpoint> = { smtp: at(25, "starttls") };
  for (const service of MAIL_SERVICES)
    if (offers(config.services, service)) endpoints[service.name] = at(service.port, service.security);
  endpoints.https = at(443, "https");
  // The services without an option (submissions, imaps) are always set: the required fields.
  return endpoints as unknown as Endpoints;
}

/** The TCP ports the mail host must accept from the internet (80 serves ACME HTTP-01 and the redirect). */
export function publicPorts(endpoints: Endpoints): number[] {
  return [80, ...Object.values(endpoints).map((endpoint: Endpoint) => endpoint.port)].sort((a, b) => a - b);
}
