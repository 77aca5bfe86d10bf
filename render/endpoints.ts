// The service endpoints and URLs the stack offers, derived from the configuration (pure).
import type { MailstackConfig } from "../config/load";

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

export function serviceEndpoints(config: Pick<MailstackConfig, "hostname" | "services">): Endpoints {
  const host = config.hostname;
  const at = (port: number, security: Security): Endpoint => ({ host, port, security });
  const { services } = config;
  return {
    smtp: at(25, "starttls"),
    submissions: at(465, "implicit-tls"),
    ...(services.submission ? { submission: at(587, "starttls") } : {}),
    imaps: at(993, "implicit-tls"),
    ...(services.imap ? { imap: at(143, "starttls") } : {}),
    ...(services.pop3s ? { pop3s: at(995, "implicit-tls") } : {}),
    ...(services.pop3 ? { pop3: at(110, "starttls") } : {}),
    ...(services.sieve ? { sieve: at(4190, "starttls") } : {}),
    https: at(443, "https"),
  };
}

/** The TCP ports the mail host must accept from the internet (80 serves ACME HTTP-01 and the redirect). */
export function publicPorts(endpoints: Endpoints): number[] {
  return [80, ...Object.values(endpoints).map((endpoint: Endpoint) => endpoint.port)].sort((a, b) => a - b);
}
