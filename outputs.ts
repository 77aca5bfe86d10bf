// The stack outputs other teams consume (via `pulumi stack output` or a StackReference).
// Keep this interface stable: renaming a field breaks consumers.
import type { Endpoints } from "./render/endpoints";

export interface HostedDomainOutputs {
  /** The MX target of the domain. */
  readonly mx: string;
  readonly mailboxes: readonly string[];
  /** Where the MTA-STS policy is served (RFC 8461 §3.3). */
  readonly mtaStsPolicyUrl: string;
  /** Thunderbird-style autoconfig and Outlook autodiscover names for mail clients. */
  readonly autoconfigHost: string;
  readonly autodiscoverHost: string;
}

export interface StackOutputs {
  readonly environment: "production" | "staging";
  readonly mailHost: {
    readonly hostname: string;
    readonly publicIpv4: string;
    readonly publicIpv6: string;
    readonly lanIpv4: string;
    readonly lanIpv6?: string;
  };
  readonly endpoints: Endpoints;
  readonly urls: { readonly webmail: string; readonly admin: string; readonly api: string };
  /** Ports the firewall opens to the internet for the mail host. */
  readonly publicPorts: readonly number[];
  readonly domains: Readonly<Record<string, HostedDomainOutputs>>;
}
