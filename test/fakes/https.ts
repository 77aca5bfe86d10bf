// Shared plumbing for the fake HTTPS APIs (pfSense, mailcow): a certificate for 127.0.0.1 made
// with openssl, a JSON server on a free loopback port, a request log and fault injection.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ApiConnection } from "../../providers/rest";
import { runOk } from "../support/exec";
import { requireTool } from "../tools";

export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
}

/**
 * A self-signed certificate (the client pins it as its CA): for 127.0.0.1 by default, or for a host
 * name only (a server reached at an address but verified for its name).
 */
export async function loopbackCertificate(hostName?: string): Promise<TestCertificate> {
  requireTool("openssl");
  const dir = mkdtempSync(join(tmpdir(), "mailstack-cert-"));
  try {
    await runOk("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=${hostName ?? "127.0.0.1"}`,
      "-addext",
      hostName ? `subjectAltName=DNS:${hostName}` : "subjectAltName=IP:127.0.0.1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ]);
    return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "lost": the server acts on the request, then the connection drops before the answer. */
export type Fault = "500" | "503" | "slow" | "malformed" | "reset" | "lost" | "403";

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface JsonReply {
  readonly status: number;
  /** The status line's reason phrase (default: the standard one). */
  readonly statusText?: string;
  /** Sent as JSON, unless `text` is given (undefined: an empty body). */
  readonly body: unknown;
  /** A body that is not JSON (e.g. the web server's own HTML error page), sent as it is. */
  readonly text?: string;
  /** Content type of `text` (default text/html). */
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface FakeHttpsOptions {
  /** What the API answers for an injected "500" or "503" (its own error shape). */
  readonly serverError?: (status: 500 | 503) => JsonReply;
}

/** A JSON API on https://127.0.0.1:<port>; `handle` answers every request that is not a fault. */
export class FakeHttpsApi {
  readonly requests: LoggedRequest[] = [];
  private readonly faults: { fault: Fault; when: (request: LoggedRequest) => boolean }[] = [];
  private server?: Server;
  port = 0;
  /** Called with each request before it is answered (a test's way to act between two calls). */
  onRequest: ((request: LoggedRequest) => void) | undefined;
  /** How long a "slow" reply waits (longer than the client's timeout). */
  slowMs = 3_000;
  /** How long every answer takes (a real API's latency; 0: at once). */
  latencyMs = 0;
  /** Requests received and not yet answered (or dropped), and the most there ever were at once. */
  inFlight = 0;
  maxInFlight = 0;

  constructor(
    readonly certificate: TestCertificate,
    private readonly handle: (request: LoggedRequest) => JsonReply | Promise<JsonReply>,
    private readonly options: FakeHttpsOptions = {},
  ) {}

  get baseUrl(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Makes the next request(s) matching `when` fail with `fault`. */
  inject(fault: Fault, times = 1, when: (request: LoggedRequest) => boolean = () => true): void {
    for (let i = 0; i < times; i++) this.faults.push({ fault, when });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  writes(): LoggedRequest[] {
    return this.requests.filter((request) => request.method !== "GET");
  }

  async start(): Promise<void> {
    this.server = createServer({ cert: this.certificate.cert, key: this.certificate.key }, (req, res) =>
      this.serve(req, res),
    );
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    this.port = typeof address === "object" && address ? address.port : 0;
  }

  /** How a provider under test reaches this server: its CA pinned, short timeouts and backoff. */
  connection(apiKey: string): ApiConnection {
    return {
      endpoint: this.baseUrl,
      apiKey,
      caCertificate: this.certificate.cert,
      timeoutMs: 1_000,
      retries: 2,
      backoffMs: 20,
    };
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "https://127.0.0.1");
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      try {
        body = text ? (JSON.parse(text) as unknown) : undefined;
      } catch {
        body = text;
      }
      const request: LoggedRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body,
        headers: req.headers,
      };
      this.requests.push(request);
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      // Held until the reply is written (before the client can read it), or the connection drops.
      let open = true;
      const done = () => {
        if (open) this.inFlight--;
        open = false;
      };
      res.on("close", done);
      this.onRequest?.(request);
      const index = this.faults.findIndex((entry) => entry.when(request));
      const fault = index >= 0 ? this.faults.splice(index, 1)[0]?.fault : undefined;
      const send = (reply: JsonReply) => {
        const text = reply.text ?? (reply.body === undefined ? undefined : JSON.stringify(reply.body));
        const headers = {
          "content-type": reply.text !== undefined ? (reply.contentType ?? "text/html") : "application/json",
          ...reply.headers,
        };
        done();
        if (reply.statusText === undefined) res.writeHead(reply.status, headers);
        else res.writeHead(reply.status, reply.statusText, headers);
        res.end(text);
      };
      const answer = async (): Promise<void> => {
        switch (fault) {
          case "500":
          case "503": {
            const status = fault === "500" ? 500 : 503;
            send(
              this.options.serverError?.(status) ?? {
                status,
                body: {
                  code: status,
                  status: "server error",
                  response_id: "SERVER_ERROR",
                  message: "Internal Server Error",
                  data: [],
                },
              },
            );
            return;
          }
          case "slow":
            setTimeout(() => send({ status: 200, body: { code: 200, data: [] } }), this.slowMs).unref();
            return;
          case "malformed":
            send({ status: 200, body: undefined, text: "{ this is not json", contentType: "application/json" });
            return;
          case "reset":
            req.socket.destroy();
            return;
          case "403":
            // What the web server in front of the API says (nginx), not the API itself.
            send({
              status: 403,
              body: undefined,
              text: "<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1></body></html>",
            });
            return;
          case "lost":
            await this.handle(request);
            req.socket.destroy();
            return;
          default: {
            const reply = await this.handle(request);
            if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
            send(reply);
          }
        }
      };
      answer().catch((error: unknown) => {
        res.writeHead(599, { "content-type": "text/plain" });
        res.end(`fake failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      });
    });
  }
}
