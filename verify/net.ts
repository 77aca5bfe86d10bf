// Where verify connects: the planned addresses of the mail host (or a name's addresses), unless a
// --connect rule says otherwise (split DNS, a lab on loopback). Rules match the most specific
// way first: address and port, name and port, address, name.
import { connect, isIP } from "node:net";
import type { ConnectRule, HostPort } from "./options";

export interface Destination {
  readonly host: string;
  readonly port: number;
}

export type Family = "IPv4" | "IPv6";

export function familyOf(address: string): Family | undefined {
  const version = isIP(address);
  return version === 4 ? "IPv4" : version === 6 ? "IPv6" : undefined;
}

export class Connector {
  constructor(private readonly rules: readonly ConnectRule[]) {}

  private find(from: HostPort): HostPort | undefined {
    return this.rules.find((rule) => rule.from.host === from.host && rule.from.port === from.port)?.to;
  }

  /** The mapped destination of a name/address and port, or undefined when no rule applies. */
  mapped(name: string, address: string | undefined, port: number): Destination | undefined {
    const to =
      (address !== undefined ? this.find({ host: address, port }) : undefined) ??
      this.find({ host: name, port }) ??
      (address !== undefined ? this.find({ host: address }) : undefined) ??
      this.find({ host: name });
    return to ? { host: to.host, port: to.port ?? port } : undefined;
  }

  /** Where to connect for `name` at `address` (a planned address) and `port`. */
  destination(name: string, address: string, port: number): Destination {
    return this.mapped(name.toLowerCase(), address.toLowerCase(), port) ?? { host: address, port };
  }
}

export type PortState = "open" | "closed" | "filtered";

/** A TCP connect: open (accepted), closed (refused) or filtered (no answer within the time). */
export function probePort(destination: Destination, timeoutMs: number): Promise<PortState> {
  return new Promise((resolve) => {
    const socket = connect({ host: destination.host, port: destination.port });
    const done = (state: PortState) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(state);
    };
    const timer = setTimeout(() => done("filtered"), timeoutMs);
    socket.once("connect", () => done("open"));
    socket.once("error", (error: NodeJS.ErrnoException) =>
      done(error.code === "ECONNREFUSED" || error.code === "ECONNRESET" ? "closed" : "filtered"),
    );
  });
}

export function showDestination(destination: Destination): string {
  return `${isIP(destination.host) === 6 ? `[${destination.host}]` : destination.host}:${destination.port}`;
}
