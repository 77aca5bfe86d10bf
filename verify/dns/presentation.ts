// Served records in the form the stack declares them (render/dns.ts declaredRecord): names in
// lower case without the trailing dot, TXT as its joined text, addresses in their short form.
import type * as dnsPacket from "dns-packet";
import ipaddr from "ipaddr.js";
import { txtText } from "./client";

export function normalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "") || ".";
}

function address(text: string): string {
  try {
    return ipaddr.parse(text).toString();
  } catch {
    return text.toLowerCase();
  }
}

/** The declared-form value of a served record; undefined for types the stack does not declare. */
export function presentation(answer: dnsPacket.Answer): string | undefined {
  switch (answer.type) {
    case "A":
    case "AAAA":
      return address(answer.data);
    case "CNAME":
      return normalName(answer.data);
    case "MX":
      return `${answer.data.preference ?? 0} ${normalName(answer.data.exchange)}`;
    case "TXT":
      return txtText(answer.data);
    case "SRV":
      return `${answer.data.priority ?? 0} ${answer.data.weight ?? 0} ${answer.data.port} ${normalName(answer.data.target)}`;
    case "TLSA":
      return `${answer.data.usage} ${answer.data.selector} ${answer.data.matchingType} ${answer.data.certificate.toString("hex")}`;
    case "CAA":
      return `${answer.data.flags ?? 0} ${answer.data.tag} "${answer.data.value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
    default:
      return undefined;
  }
}

/** A declared value in the same form (addresses shortened, names lower-cased). */
export function normalDeclared(type: string, value: string): string {
  switch (type) {
    case "A":
    case "AAAA":
      return address(value);
    case "CNAME":
      return normalName(value);
    case "MX": {
      const [preference, host] = value.split(/\s+/);
      return `${preference ?? "0"} ${normalName(host ?? "")}`;
    }
    case "SRV": {
      const [priority, weight, port, host] = value.split(/\s+/);
      return `${priority} ${weight} ${port} ${normalName(host ?? ".")}`;
    }
    case "TLSA":
      return value.toLowerCase();
    default:
      return value;
  }
}
