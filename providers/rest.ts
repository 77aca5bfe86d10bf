// A small JSON-over-HTTPS client for the dynamic providers (pfSense REST API, mailcow API).
// TLS is always verified (against a pinned CA when one is given); timeouts and 5xx/429 answers are
// retried with exponential backoff up to a bound; errors carry the server's own message and never
// a header value (API keys travel in headers). A request that is not idempotent (a create, or a
// write addressed by a position that may shift) is not sent again after a failure that leaves
// open whether the server acted on it: the caller looks first (createOnce, resendAfterLookup).
// Self-contained: dynamic providers are serialized. Pulumi's closure serializer turns classes into
// plain functions and module-level Sets and Maps into plain objects (their methods then throw), so
// this file keeps no Set or Map at module level and its errors set their fields explicitly
// (keepErrorFields).
import * as https from "node:https";
import { isIP } from "node:net";
import { DEFAULT_API_CONCURRENCY, withApiSlot } from "./throttle";

export interface Endpoint {
  /** https://host[:port] */
  readonly baseUrl: string;
  /** Connect to this address instead of resolving the URL's host (TLS is still verified for the host). */
  readonly connectAddress?: string;
  /** PEM CA (or self-signed certificate) to trust instead of the system store. */
  readonly caCertificate?: string;
  readonly timeoutMs?: number;
  /** Retries after the first attempt, for timeouts, connection errors, 5xx and 429. */
  readonly retries?: number;
  readonly backoffMs?: number;
  /** At most this many requests to this base URL in flight at once (providers/throttle.ts). */
  readonly concurrency?: number;
}

/** How a dynamic provider reaches an API (its inputs carry this, the key as a secret). */
export interface ApiConnection {
  /** https://host[:port] */
  readonly endpoint: string;
  /** Connect to this address instead of resolving the endpoint's host name (TLS verified for the name). */
  readonly connectAddress?: string;
  readonly apiKey: string;
  /** PEM certificate or CA to trust instead of the system store. */
  readonly caCertificate?: string;
  readonly timeoutMs?: number;
  readonly retries?: number;
  readonly backoffMs?: number;
  /** mailstack:apiConcurrency: at most this many requests in flight to this API. */
  readonly concurrency?: number;
}

export function endpointFrom(connection: ApiConnection): Endpoint {
  return {
    baseUrl: connection.endpoint,
    ...(connection.connectAddress ? { connectAddress: connection.connectAddress } : {}),
    ...(connection.caCertificate ? { caCertificate: connection.caCertificate } : {}),
    ...(connection.timeoutMs ? { timeoutMs: connection.timeoutMs } : {}),
    ...(connection.retries !== undefined ? { retries: connection.retries } : {}),
    ...(connection.backoffMs !== undefined ? { backoffMs: connection.backoffMs } : {}),
    ...(connection.concurrency !== undefined ? { concurrency: connection.concurrency } : {}),
  };
}

export interface RestRequest {
  readonly method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean>>;
  readonly body?: unknown;
  /** Safe to send twice (default: every method but POST). */
  readonly idempotent?: boolean;
  /**
   * Whether an error answer is the API's own, final word (e.g. PVE answers a missing object with
   * HTTP 500 and a message): then it is neither retried nor taken as a maybe-applied request.
   */
  readonly final?: (response: RestResponse) => boolean;
  /** This request's timeout, when it may take longer than the endpoint's (e.g. a synchronous reload). */
  readonly timeoutMs?: number;
}

export interface RestResponse {
  readonly status: number;
  /** The reason phrase of the status line (some APIs, e.g. PVE, put their error message there). */
  readonly statusText?: string;
  readonly json: unknown;
}

/**
 * Sets an error's name and message (and a stack when there is none) on the object itself.
 * Under Pulumi's closure serialization `class X extends Error` becomes a function whose
 * constructor runs `Error.call(this, message)`: that returns a new Error and leaves `this`
 * without a message, so the engine, which reports `error.message`, would show none. Provider
 * error classes call this at the end of their constructor. (A serialized class without methods
 * is also no longer `instanceof Error`: read `message` through errorMessage().)
 */
export function keepErrorFields(
  error: { name: string; message: string; stack?: string },
  name: string,
  message: string,
): void {
  error.name = name;
  error.message = message;
  if (typeof error.stack !== "string") error.stack = `${name}: ${message}`;
}

/** What an answer that was not a success said besides its message. */
export interface RestErrorDetails {
  /** The API's own error identifier (pfrest's `response_id`). */
  readonly responseId?: string;
  /** The body was not JSON (e.g. the web server's HTML error page instead of the API's answer). */
  readonly notJson?: boolean;
}

export class RestError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly retryable = false,
    /** The server may have acted on the request although no success came back. */
    readonly unsure = false,
    readonly details: RestErrorDetails = {},
  ) {
    super(message);
    keepErrorFields(this, "RestError", message);
  }

  // A class with a method is serialized with a prototype made from Error.prototype (without one,
  // the serialized RestError is not `instanceof Error` and prints as "[object Object]").
  override toString(): string {
    return `${this.name}: ${this.message}`;
  }
}

/** An error's message, also for errors of serialized classes (which are not `instanceof Error`). */
export function errorMessage(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === "string" && message ? message : String(error);
}

const DEFAULTS = { timeoutMs: 15_000, retries: 3, backoffMs: 500 };

/** Socket errors raised before the request reached the server (safe to send again). */
const NOT_SENT: readonly string[] = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"];

/** 429 and 503 say the server did not take the request on; other 5xx leave it open. */
const unsureStatus = (status: number) => status >= 500 && status !== 503;

function once(
  endpoint: Endpoint,
  request: RestRequest,
  headers: Readonly<Record<string, string>>,
): Promise<RestResponse> {
  const url = new URL(request.path, endpoint.baseUrl);
  if (url.protocol !== "https:")
    return Promise.reject(new RestError(`refusing ${url.protocol} for ${url.host}: the API must use https`));
  for (const [key, value] of Object.entries(request.query ?? {})) url.searchParams.set(key, String(value));
  const body = request.body === undefined ? undefined : JSON.stringify(request.body);
  const what = `${request.method} ${url.pathname}`;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const timeoutMs = request.timeoutMs ?? endpoint.timeoutMs ?? DEFAULTS.timeoutMs;
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        protocol: "https:",
        // With connectAddress the connection goes there; TLS is verified for the URL's host name,
        // which is also sent as SNI and Host.
        hostname: endpoint.connectAddress ?? host,
        port: url.port || 443,
        path: `${url.pathname}${url.search}`,
        ...(isIP(host) ? {} : { servername: host }),
        method: request.method,
        headers: {
          host: url.host,
          accept: "application/json",
          ...(body === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(body) }),
          ...headers,
        },
        rejectUnauthorized: true,
        ...(endpoint.caCertificate ? { ca: endpoint.caCertificate } : {}),
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", (error) => reject(new RestError(`${what}: ${error.message}`, undefined, true, true)));
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = text.length === 0 ? undefined : (JSON.parse(text) as unknown);
          } catch {
            reject(
              new RestError(
                `${what}: HTTP ${status} with a body that is not JSON: ${JSON.stringify(text.slice(0, 120))}`,
                status,
                status >= 500,
                unsureStatus(status) || (status >= 200 && status < 300),
                { notJson: true },
              ),
            );
            return;
          }
          resolve({ status, statusText: res.statusMessage ?? "", json });
        });
      },
    );
    req.on("timeout", () =>
      req.destroy(new RestError(`${what}: no answer within ${timeoutMs} ms`, undefined, true, true)),
    );
    req.on("error", (error: NodeJS.ErrnoException) =>
      reject(
        error instanceof RestError
          ? error
          : new RestError(`${what}: ${error.message}`, undefined, true, !NOT_SENT.includes(error.code ?? "")),
      ),
    );
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * Sends a request; retries timeouts, connection errors, 5xx and 429 with exponential backoff.
 * Each attempt waits for one of the API's slots (providers/throttle.ts), the backoff does not.
 * A request that is not idempotent is retried only when the server cannot have acted on it;
 * otherwise the error (marked `unsure`) goes to the caller. `describeError` turns a non-2xx JSON
 * answer into the server's own message.
 */
export async function rest(
  endpoint: Endpoint,
  request: RestRequest,
  headers: Readonly<Record<string, string>>,
  describeError: (json: unknown, statusText: string) => string | undefined,
): Promise<RestResponse> {
  const retries = endpoint.retries ?? DEFAULTS.retries;
  const backoff = endpoint.backoffMs ?? DEFAULTS.backoffMs;
  const idempotent = request.idempotent ?? request.method !== "POST";
  let last: RestError | undefined;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, backoff * 2 ** (attempt - 1)));
    try {
      const response = await withApiSlot(endpoint.baseUrl, endpoint.concurrency ?? DEFAULT_API_CONCURRENCY, () =>
        once(endpoint, request, headers),
      );
      if (response.status >= 200 && response.status < 300) return response;
      const message = describeError(response.json, response.statusText ?? "") ?? "no message";
      const final = request.final?.(response) ?? false;
      const retryable = !final && (response.status >= 500 || response.status === 429);
      const responseId = (response.json as { response_id?: unknown } | null | undefined)?.response_id;
      last = new RestError(
        `${request.method} ${request.path}: HTTP ${response.status}: ${message}`,
        response.status,
        retryable,
        !final && unsureStatus(response.status),
        typeof responseId === "string" ? { responseId } : {},
      );
    } catch (error) {
      last = error instanceof RestError ? error : new RestError(errorMessage(error), undefined, false);
    }
    if (!last.retryable || (!idempotent && last.unsure)) throw last;
  }
  throw new RestError(
    `${last?.message ?? "request failed"} (gave up after ${retries + 1} attempts)`,
    last?.status,
    false,
    false,
    last?.details ?? {},
  );
}

/**
 * Creates an object with a request that must not be repeated blindly. When `send` fails in a way
 * that leaves open whether the server created it, `find` looks for it; the create is sent again
 * only when the object is not there (at most `retries` more times).
 */
export async function createOnce<T>(
  send: () => Promise<T>,
  find: () => Promise<T | undefined>,
  retries: number = DEFAULTS.retries,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof RestError && error.unsure) || attempt >= retries) throw error;
      const found = await find();
      if (found !== undefined) return found;
    }
  }
}

/**
 * Runs a write addressed by something that may have changed meanwhile (pfrest's ids are list
 * positions): `attempt` looks the object up and sends the write. When the write fails in a way
 * that leaves open whether the server acted on it, the next attempt looks again before sending, so
 * a lost answer never turns into a write to whatever object took the old position.
 */
export async function resendAfterLookup<T>(attempt: () => Promise<T>, retries: number = DEFAULTS.retries): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof RestError && error.unsure) || tries >= retries) throw error;
    }
  }
}
