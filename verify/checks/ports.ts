// Exposure: the planned ports answer over IPv4 and IPv6; SSH, the Proxmox and pfSense UIs,
// databases and the other internal services do not. Reverse DNS of both addresses names the
// host and the host's name resolves back to them (forward-confirmed).
import ipaddr from "ipaddr.js";
import type { Context } from "../context";
import { recordsOf } from "../dns/client";
import { normalName } from "../dns/presentation";
import { probePort, showDestination } from "../net";
import { fail, pass, type Result } from "../result";

/** Ports that must not answer from the internet, and what usually listens there. */
export const FORBIDDEN_PORTS: Readonly<Record<number, string>> = {
  22: "SSH",
  110: "POP3 without TLS",
  143: "IMAP without TLS",
  2375: "the Docker API",
  2376: "the Docker API (TLS)",
  3306: "MySQL/MariaDB",
  4190: "ManageSieve",
  5432: "PostgreSQL",
  6379: "Redis",
  7654: "mailcow's Redis",
  8006: "the Proxmox VE UI",
  8007: "the Proxmox Backup Server UI",
  8080: "an HTTP admin UI",
  8443: "an HTTPS admin UI (pfSense, …)",
  9100: "node_exporter",
  11211: "memcached",
  13306: "mailcow's MariaDB",
  19991: "Dovecot's doveadm",
};

export const PORT_TIMEOUT_MS = 3000;

export async function portChecks(context: Context): Promise<Result[]> {
  if (!context.wants("ports")) return [];
  const host = context.target.host.name;
  const planned = new Set(context.target.publicPorts);
  const forbidden = Object.keys(FORBIDDEN_PORTS)
    .map(Number)
    .filter((port) => !planned.has(port));
  const jobs = context.addresses.flatMap(({ address, family }) => [
    ...[...planned].map(async (port): Promise<Result> => {
      const destination = context.connector.destination(host, address, port);
      const state = await probePort(destination, PORT_TIMEOUT_MS);
      const subject = { host, port, address };
      return state === "open"
        ? pass("ports", "port-open", subject, `${port} answers over ${family}`)
        : fail(
            "ports",
            "port-open",
            subject,
            `${port} does not answer over ${family} (${state} at ${showDestination(destination)}): the stack plans it public`,
            family === "IPv4"
              ? "check the pfSense port forward and pass rule for the port (`pulumi refresh` shows drift), UFW on the host and that mailcow's container listens"
              : "check the pfSense IPv6 pass rule to the host's public IPv6, UFW on the host and that mailcow listens on IPv6 (ENABLE_IPV6)",
          );
    }),
    ...forbidden.map(async (port): Promise<Result> => {
      const destination = context.connector.destination(host, address, port);
      const state = await probePort(destination, PORT_TIMEOUT_MS);
      const subject = { host, port, address };
      const what = FORBIDDEN_PORTS[port] ?? "a service";
      return state === "open"
        ? fail(
            "ports",
            "port-closed",
            subject,
            `${port} (${what}) answers over ${family}: it must not be reachable from the internet`,
            "remove the rule that opens it on pfSense (mailstack's rules never do; `pulumi refresh` shows ours) and keep UFW's default deny on the host; services of mailcow bind to 127.0.0.1 unless offered",
          )
        : pass("ports", "port-closed", subject, `${port} (${what}) does not answer over ${family}`);
    }),
  ]);
  return Promise.all(jobs);
}

/** in-addr.arpa / ip6.arpa name of an address. */
export function reverseName(address: string): string {
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv4") return `${parsed.toByteArray().reverse().join(".")}.in-addr.arpa`;
  const nibbles = parsed
    .toByteArray()
    .flatMap((byte) => [byte >> 4, byte & 15])
    .map((nibble) => nibble.toString(16));
  return `${nibbles.reverse().join(".")}.ip6.arpa`;
}

export async function ptrChecks(context: Context): Promise<Result[]> {
  if (!context.wants("ptr")) return [];
  const host = context.target.host.name;
  return Promise.all(
    context.addresses.map(async ({ address, family }): Promise<Result> => {
      const name = reverseName(address);
      const subject = { host, address };
      const fix = `ask the owner of ${address} (ISP or hoster) to set its PTR to ${host}; the stack cannot set reverse DNS`;
      const ptr = await context.lookup(name, "PTR");
      const names = recordsOf(ptr.response, "PTR").map((r) => normalName(r.data));
      if (names.length === 0)
        return fail("ptr", "ptr", subject, `no PTR record for ${address} (${ptr.response.rcode})`, fix);
      if (!names.includes(host))
        return fail("ptr", "ptr", subject, `the PTR of ${address} is ${names.join(", ")}, not ${host}`, fix);
      const type = family === "IPv4" ? "A" : "AAAA";
      const forward = await context.lookup(host, type);
      const addresses = recordsOf(forward.response, type).map((r) => ipaddr.parse(r.data).toString());
      return addresses.includes(ipaddr.parse(address).toString())
        ? pass("ptr", "ptr", subject, `${address} → ${host} → ${address} (forward-confirmed)`)
        : fail(
            "ptr",
            "ptr",
            subject,
            `${address} → ${host}, but ${type} ${host} is ${addresses.join(", ") || `not resolvable (${forward.response.rcode})`}`,
            "the host's address records must hold the address its PTR points from: see records",
          );
    }),
  );
}
