// A DNS stub client for verify: dns-packet for the wire format, a small UDP transport with a
// TCP retry for truncated answers. Every query asks for DNSSEC records (DO bit) so the AD flag,
// RRSIGs and Extended DNS Errors (RFC 8914) come back; `cd` asks the resolver for the data even
// when it does not validate (to tell "not served" from "served but bogus").
import { randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import { connect, isIP } from "node:net";
import * as dnsPacket from "dns-packet";

export interface DnsServer {
  readonly host: string;
  readonly port: number;
}

export type Answer = dnsPacket.Answer;

export interface DnsResponse {
  readonly rcode: string;
  /** The resolver validated the answer (AD flag). */
  readonly ad: boolean;
  readonly answers: readonly Answer[];
  readonly authorities: readonly Answer[];
  /** Extended DNS Errors: RFC 8914 info code and text (e.g. 6 "DNSSEC Bogus"). */
  readonly ede: readonly { readonly code: number; readonly text: string }[];
}

export class DnsError extends Error {
  override readonly name = "DnsError";
}

/** RFC 8914 §4 info codes, for messages. */
const EDE_NAMES: Readonly<Record<number, string>> = {
  1: "unsupported DNSKEY algorithm",
  2: "unsupported DS digest type",
  5: "DNSSEC indeterminate",
  6: "DNSSEC bogus",
  7: "signature expired",
  8: "signature not yet valid",
  9: "DNSKEY missing",
  10: "RRSIGs missing",
  11: "no zone key bit set",
  12: "NSEC missing",
  22: "no reachable authority",
};

export function edeText(ede: DnsResponse["ede"]): string {
  return ede.map((e) => `EDE ${e.code} ${EDE_NAMES[e.code] ?? ""}${e.text ? `: ${e.text}` : ""}`.trim()).join("; ");
}

const EDE_OPTION = 15;
const UDP_PAYLOAD = 1232;

type DecodedPacket = dnsPacket.DecodedPacket & { rcode?: string };

function queryPacket(id: number, name: string, type: dnsPacket.RecordType, cd: boolean): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED | (cd ? dnsPacket.CHECKING_DISABLED : 0),
    questions: [{ name, type, class: "IN" }],
    additionals: [
      {
        type: "OPT",
        name: ".",
        udpPayloadSize: UDP_PAYLOAD,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: dnsPacket.DNSSEC_OK,
        flag_do: true,
        options: [],
      },
    ],
  });
}

function toResponse(packet: DecodedPacket): DnsResponse {
  const ede: { code: number; text: string }[] = [];
  for (const additional of packet.additionals ?? []) {
    if (additional.type !== "OPT") continue;
    for (const option of additional.options as { code: number; data?: Buffer }[]) {
      if (option.code === EDE_OPTION && option.data && option.data.length >= 2) {
        ede.push({ code: option.data.readUInt16BE(0), text: option.data.subarray(2).toString("utf8") });
      }
    }
  }
  return {
    rcode: packet.rcode ?? "NOERROR",
    ad: packet.flag_ad,
    answers: packet.answers ?? [],
    authorities: packet.authorities ?? [],
    ede,
  };
}

export class DnsClient {
  private readonly cache = new Map<string, Promise<DnsResponse>>();

  constructor(
    readonly server: DnsServer,
    private readonly timeoutMs = 3000,
    private readonly tries = 2,
  ) {}

  /** One query (cached for the run): the answer, or a DnsError when the resolver does not answer. */
  query(name: string, type: dnsPacket.RecordType, options: { cd?: boolean } = {}): Promise<DnsResponse> {
    const key = `${name.toLowerCase()}|${type}|${options.cd ? "cd" : ""}`;
    let pending = this.cache.get(key);
    if (!pending) {
      pending = this.ask(name, type, options.cd ?? false);
      this.cache.set(key, pending);
    }
    return pending;
  }

  private async ask(name: string, type: dnsPacket.RecordType, cd: boolean): Promise<DnsResponse> {
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < this.tries; attempt++) {
      const id = randomInt(0, 65536);
      try {
        let packet = await this.udp(queryPacket(id, name, type, cd), id);
        if (packet.flag_tc) packet = await this.tcp(queryPacket(id, name, type, cd), id);
        const question = packet.questions?.[0];
        if (
          !question ||
          question.name.toLowerCase() !== name.toLowerCase().replace(/\.$/, "") ||
          question.type !== type
        ) {
          throw new DnsError(`the answer is for another question (${question?.name ?? "?"} ${question?.type ?? "?"})`);
        }
        return toResponse(packet);
      } catch (error) {
        lastError = error as Error;
      }
    }
    const where = `${this.server.host.includes(":") ? `[${this.server.host}]` : this.server.host}:${this.server.port}`;
    throw new DnsError(`no answer from the resolver ${where} for ${name} ${type}: ${lastError?.message ?? "timeout"}`);
  }

  private udp(message: Buffer, id: number): Promise<DecodedPacket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket(isIP(this.server.host) === 6 ? "udp6" : "udp4");
      const timer = setTimeout(() => finish(new DnsError(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      const finish = (error?: Error, packet?: DecodedPacket) => {
        clearTimeout(timer);
        socket.close();
        if (error) reject(error);
        else if (packet) resolve(packet);
      };
      socket.on("error", (error) => finish(error));
      socket.on("message", (data) => {
        let packet: DecodedPacket;
        try {
          packet = dnsPacket.decode(data);
        } catch {
          return; // not a DNS answer: keep waiting
        }
        if (packet.id === id && packet.type === "response") finish(undefined, packet);
      });
      socket.send(message, this.server.port, this.server.host, (error) => error && finish(error));
    });
  }

  private tcp(message: Buffer, id: number): Promise<DecodedPacket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.server.host, port: this.server.port });
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new DnsError(`timed out after ${this.timeoutMs} ms (TCP)`));
      }, this.timeoutMs);
      socket.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.on("connect", () => {
        const length = Buffer.alloc(2);
        length.writeUInt16BE(message.length);
        socket.write(Buffer.concat([length, message]));
      });
      socket.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        const data = Buffer.concat(chunks);
        if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
          clearTimeout(timer);
          socket.destroy();
          try {
            const packet = dnsPacket.decode(data.subarray(2, 2 + data.readUInt16BE(0))) as DecodedPacket;
            if (packet.id !== id) reject(new DnsError("TCP answer with another id"));
            else resolve(packet);
          } catch (error) {
            reject(error instanceof Error ? error : new DnsError(String(error)));
          }
        }
      });
    });
  }
}

/** The records of one type in an answer (the owner may be a CNAME target). */
type AnswerOf<T extends Answer["type"]> = T extends dnsPacket.StringRecordType
  ? dnsPacket.StringAnswer
  : Extract<Answer, { type: T }>;

export function recordsOf<T extends Answer["type"]>(response: DnsResponse, type: T): AnswerOf<T>[] {
  return response.answers.filter((answer): answer is AnswerOf<T> => answer.type === type);
}

/** A TXT record's strings joined into its logical text (RFC 7208 §3.3). */
export function txtText(data: dnsPacket.TxtData): string {
  const parts = Array.isArray(data) ? data : [data];
  return parts.map((part) => (typeof part === "string" ? part : part.toString("utf8"))).join("");
}
