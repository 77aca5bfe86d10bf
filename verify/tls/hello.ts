// A raw TLS 1.2 ClientHello that offers DEFLATE compression, the renegotiation_info extension
// (RFC 5746) and extended_master_secret (RFC 7627), and reads what the ServerHello picks.
// Node's TLS client can ask for neither compression nor report these extensions, so this one
// message is written by hand (RFC 5246 §7.4.1.2-3); the handshake is never completed.
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import type { TlsEndpoint } from "./session";
import { CLIENT_NAME, TIMEOUT_MS } from "./session";
import { plainStarttls, starttlsProtocol } from "./starttls";

export type HelloOutcome =
  | {
      readonly answered: true;
      /** The compression method the server picked: 0 null, 1 DEFLATE. */
      readonly compression: number;
      readonly secureRenegotiation: boolean;
      readonly extendedMasterSecret: boolean;
    }
  | { readonly answered: false; readonly refused: boolean; readonly error: string };

const u16 = (value: number) => Buffer.from([(value >> 8) & 0xff, value & 0xff]);
const vector16 = (data: Buffer) => Buffer.concat([u16(data.length), data]);
const extension = (type: number, data: Buffer) => Buffer.concat([u16(type), vector16(data)]);

/** ECDHE/RSA AEAD and CBC suites, so any TLS 1.2 server has something to pick. */
const SUITES = [
  0xc02f, 0xc030, 0xc02b, 0xc02c, 0xcca8, 0xcca9, 0xc027, 0xc028, 0xc013, 0xc014, 0x009e, 0x009f, 0x009c, 0x009d,
  0x002f, 0x0035,
];
const GROUPS = [0x001d, 0x0017, 0x0018, 0x0019, 0x001e, 0x0100, 0x0101];
const SIGNATURE_SCHEMES = [0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0403, 0x0503, 0x0603, 0x0201, 0x0203];

export function clientHello(serverName: string): Buffer {
  const name = Buffer.from(serverName, "ascii");
  const extensions = Buffer.concat([
    extension(0x0000, vector16(Buffer.concat([Buffer.from([0]), vector16(name)]))),
    extension(0x000a, vector16(Buffer.concat(GROUPS.map(u16)))),
    extension(0x000b, Buffer.from([1, 0])),
    extension(0x000d, vector16(Buffer.concat(SIGNATURE_SCHEMES.map(u16)))),
    extension(0x0017, Buffer.alloc(0)),
    extension(0xff01, Buffer.from([0])),
  ]);
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    randomBytes(32),
    Buffer.from([0]),
    vector16(Buffer.concat(SUITES.map(u16))),
    Buffer.from([2, 1, 0]), // DEFLATE, null
    vector16(extensions),
  ]);
  const handshake = Buffer.concat([
    Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]),
    body,
  ]);
  return Buffer.concat([Buffer.from([0x16, 3, 1]), vector16(handshake)]);
}

/** Parses the ServerHello out of the server's first handshake records; undefined while incomplete. */
export function parseServerHello(data: Buffer): HelloOutcome | undefined {
  let handshake = Buffer.alloc(0);
  let offset = 0;
  while (offset + 5 <= data.length) {
    const type = data[offset];
    const length = data.readUInt16BE(offset + 3);
    if (offset + 5 + length > data.length) break;
    const fragment = data.subarray(offset + 5, offset + 5 + length);
    if (type === 0x15) {
      return {
        answered: false,
        refused: true,
        error: `the server refused the TLS 1.2 hello (alert ${fragment[1] ?? "?"})`,
      };
    }
    if (type !== 0x16) return { answered: false, refused: false, error: `unexpected TLS record type ${type}` };
    handshake = Buffer.concat([handshake, fragment]);
    offset += 5 + length;
  }
  if (handshake.length < 4) return undefined;
  if (handshake[0] !== 2)
    return { answered: false, refused: false, error: `expected a ServerHello, got handshake type ${handshake[0]}` };
  const length = (handshake[1]! << 16) | (handshake[2]! << 8) | handshake[3]!;
  if (handshake.length < 4 + length) return undefined;
  const hello = handshake.subarray(4, 4 + length);
  let at = 2 + 32;
  at += 1 + (hello[at] ?? 0); // session id
  at += 2; // cipher suite
  const compression = hello[at] ?? 0;
  at += 1;
  const found = new Set<number>();
  if (at + 2 <= hello.length) {
    const end = at + 2 + hello.readUInt16BE(at);
    at += 2;
    while (at + 4 <= end) {
      found.add(hello.readUInt16BE(at));
      at += 4 + hello.readUInt16BE(at + 2);
    }
  }
  return {
    answered: true,
    compression,
    secureRenegotiation: found.has(0xff01),
    extendedMasterSecret: found.has(0x0017),
  };
}

function exchange(socket: Socket, serverName: string): Promise<HelloOutcome> {
  return new Promise((resolve) => {
    let data = Buffer.alloc(0);
    const finish = (outcome: HelloOutcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(
      () => finish({ answered: false, refused: false, error: `no ServerHello within ${TIMEOUT_MS} ms` }),
      TIMEOUT_MS,
    );
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const outcome = parseServerHello(data);
      if (outcome) finish(outcome);
    });
    socket.once("error", (error: Error) => finish({ answered: false, refused: false, error: error.message }));
    socket.once("close", () =>
      finish({ answered: false, refused: data.length === 0, error: "the server closed the connection" }),
    );
    socket.write(clientHello(serverName));
  });
}

/** Sends the hello to the endpoint (after STARTTLS where the endpoint uses it). */
export function helloProbe(endpoint: TlsEndpoint): Promise<HelloOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: endpoint.destination.host, port: endpoint.destination.port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ answered: false, refused: false, error: `no connection within ${TIMEOUT_MS} ms` });
    }, TIMEOUT_MS);
    socket.once("error", (error: Error) => {
      clearTimeout(timer);
      resolve({ answered: false, refused: false, error: error.message });
    });
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      const ready =
        endpoint.security === "starttls"
          ? plainStarttls(socket, starttlsProtocol(endpoint.port), CLIENT_NAME, TIMEOUT_MS)
          : Promise.resolve();
      ready.then(
        () => exchange(socket, endpoint.host).then(resolve),
        (error: Error) => {
          socket.destroy();
          resolve({ answered: false, refused: false, error: error.message });
        },
      );
    });
  });
}
