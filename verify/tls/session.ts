// One TLS session with an endpoint of the mail host, with the client settings a probe asks for:
// SMTP STARTTLS through nodemailer's SMTPConnection (it handles the greeting, EHLO, STARTTLS and
// the EHLO after TLS, RFC 3207), implicit TLS and HTTPS directly with node:tls, IMAP/POP3/Sieve
// STARTTLS with the small dialogue in starttls.ts. Certificates are never rejected here: the
// certificate checks judge the chain themselves.
import { connect as connectTcp } from "node:net";
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from "node:tls";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import type { Security } from "../../render/endpoints";
import type { Destination } from "../net";
import { plainStarttls, starttlsProtocol } from "./starttls";

/** The name verify gives in EHLO. */
export const CLIENT_NAME = "mailstack-verify.invalid";

export interface TlsEndpoint {
  /** The service's host name: SNI and the name the certificate must carry. */
  readonly host: string;
  readonly port: number;
  readonly security: Security;
  readonly destination: Destination;
}

/** What the server said in plaintext (SMTP). */
export interface Transcript {
  readonly banner: string;
  readonly ehlo: readonly string[];
  readonly ehloAfterTls: readonly string[];
}

export type TlsOutcome =
  | { readonly ok: true; readonly socket: TLSSocket; readonly transcript?: Transcript }
  | {
      readonly ok: false;
      /** connect: no TCP connection; protocol: the plaintext dialogue failed; tls: the handshake failed. */
      readonly stage: "connect" | "protocol" | "tls";
      readonly error: string;
      readonly transcript?: Partial<Transcript>;
    };

export const TIMEOUT_MS = 8000;

function implicitTls(endpoint: TlsEndpoint, options: ConnectionOptions): Promise<TlsOutcome> {
  return new Promise((resolve) => {
    let connected = false;
    const socket = connectTls({
      ...options,
      host: endpoint.destination.host,
      port: endpoint.destination.port,
      servername: endpoint.host,
      rejectUnauthorized: false,
      timeout: TIMEOUT_MS,
    });
    socket.once("connect", () => (connected = true));
    socket.once("secureConnect", () => resolve({ ok: true, socket }));
    socket.once("timeout", () => {
      socket.destroy();
      resolve({ ok: false, stage: connected ? "tls" : "connect", error: `no answer within ${TIMEOUT_MS} ms` });
    });
    socket.once("error", (error: Error) => {
      socket.destroy();
      resolve({ ok: false, stage: connected ? "tls" : "connect", error: error.message });
    });
  });
}

function lineStarttls(endpoint: TlsEndpoint, options: ConnectionOptions): Promise<TlsOutcome> {
  return new Promise((resolve) => {
    const plain = connectTcp({ host: endpoint.destination.host, port: endpoint.destination.port });
    const timer = setTimeout(() => {
      plain.destroy();
      resolve({ ok: false, stage: "connect", error: `no connection within ${TIMEOUT_MS} ms` });
    }, TIMEOUT_MS);
    plain.once("error", (error) => {
      clearTimeout(timer);
      resolve({ ok: false, stage: "connect", error: error.message });
    });
    plain.once("connect", () => {
      clearTimeout(timer);
      plain.removeAllListeners("error");
      plainStarttls(plain, starttlsProtocol(endpoint.port), CLIENT_NAME, TIMEOUT_MS).then(
        () => {
          const socket = connectTls({
            ...options,
            socket: plain,
            servername: endpoint.host,
            rejectUnauthorized: false,
          });
          socket.once("secureConnect", () => resolve({ ok: true, socket }));
          socket.once("error", (error: Error) => {
            socket.destroy();
            resolve({ ok: false, stage: "tls", error: error.message });
          });
        },
        (error: Error) => {
          plain.destroy();
          resolve({ ok: false, stage: "protocol", error: error.message });
        },
      );
    });
  });
}

function smtpStarttls(endpoint: TlsEndpoint, options: ConnectionOptions): Promise<TlsOutcome> {
  return new Promise((resolve) => {
    const server: string[] = [];
    const log = (entry: { tnx?: string }, message: unknown) => {
      if (entry.tnx === "server" && typeof message === "string") server.push(message);
    };
    const logger = { trace: log, debug: log, info: log, warn: log, error: log, fatal: log };
    const connection = new SMTPConnection({
      host: endpoint.destination.host,
      port: endpoint.destination.port,
      secure: false,
      requireTLS: true,
      name: CLIENT_NAME,
      servername: endpoint.host,
      tls: { ...options, rejectUnauthorized: false },
      connectionTimeout: TIMEOUT_MS,
      greetingTimeout: TIMEOUT_MS,
      socketTimeout: TIMEOUT_MS,
      logger,
      transactionLog: true,
    });
    // Server replies in order: greeting, EHLO, STARTTLS, EHLO after TLS.
    const transcript = (): Partial<Transcript> => ({
      ...(server[0] !== undefined ? { banner: server[0] } : {}),
      ...(server[1] !== undefined ? { ehlo: server[1].split(/\r?\n/) } : {}),
      ...(server[3] !== undefined ? { ehloAfterTls: server[3].split(/\r?\n/) } : {}),
    });
    let settled = false;
    connection.on("error", (error: Error & { code?: string; command?: string }) => {
      if (settled) return;
      settled = true;
      connection.close();
      // After the server's 220 to STARTTLS, any failure is the handshake's.
      const upgraded = server.length >= 3 && /^220/.test(server[2] ?? "");
      const stage = upgraded ? "tls" : server.length === 0 ? "connect" : "protocol";
      resolve({ ok: false, stage, error: error.message, transcript: transcript() });
    });
    connection.connect(() => {
      if (settled) return;
      settled = true;
      const socket = connection._socket as TLSSocket;
      const full = transcript();
      resolve({
        ok: true,
        socket,
        transcript: { banner: full.banner ?? "", ehlo: full.ehlo ?? [], ehloAfterTls: full.ehloAfterTls ?? [] },
      });
      // The session ends when the probe has read the TLS details (close() in `closeSession`).
      socket.once("close", () => connection.close());
    });
  });
}

/** Opens a TLS session with the endpoint using the given client settings. */
export function openTls(endpoint: TlsEndpoint, options: ConnectionOptions): Promise<TlsOutcome> {
  if (endpoint.security !== "starttls") return implicitTls(endpoint, options);
  return starttlsProtocol(endpoint.port) === "smtp" ? smtpStarttls(endpoint, options) : lineStarttls(endpoint, options);
}

export function closeSession(outcome: TlsOutcome): void {
  if (outcome.ok) outcome.socket.destroy();
}
