// Requests to mailcow's REST API (header X-API-Key; answers [{type, log, msg}]; edits take
// {items, attr}; deletes a JSON list of ids), following mailcow's PHP at the pinned release
// (mailcow-dockerized 2026-07a, data/web/; the fake in test/fakes/mailcow.ts cites the lines).
// Part of the serialized provider (providers/mailcow/provider.ts): no module-level Set or Map.
import { createOnce, endpointFrom, keepErrorFields, rest, RestError, type ApiConnection } from "../rest";

export type MailcowConnection = ApiConnection;

export const MIB = 1024 * 1024;

/** mailcow's message: `msg` of an {type, msg} answer or of the entries of a list of them. */
function messageOf(json: unknown): string | undefined {
  const entries = Array.isArray(json) ? (json as unknown[]) : [json];
  const messages = entries
    .filter((entry): entry is { msg?: unknown } => entry !== null && typeof entry === "object" && "msg" in entry)
    .map((entry) =>
      Array.isArray(entry.msg)
        ? entry.msg.map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(" ")
        : String(entry.msg),
    );
  return messages.length > 0 ? messages.join("; ") : undefined;
}

export class MailcowError extends Error {
  constructor(
    message: string,
    /** mailcow's message key, e.g. "domain_exists". */
    readonly key?: string,
  ) {
    super(message);
    // Serialized by Pulumi, the class sets no message itself (see keepErrorFields).
    keepErrorFields(this, "MailcowError", message);
  }
}

const ADDS_OBJECT = /^add\/(domain|mailbox)$/;

/**
 * Warnings that report a side effect, not a failure: the object was made (add/domain :674-692).
 * The provider sends restart_sogo: 0, which every release since 2022-01 honours (:516, :674), so
 * this is a safety net. An array, not a Set: Pulumi's closure serializer (@pulumi/pulumi 3.248.0,
 * runtime/closure/createClosure.js getOrCreateEntryAsync) treats a Set like any plain object
 * (serializeObjectAsync copies the properties the code reads, here `has` from Set.prototype; the
 * entries live in an internal slot and are lost), so a module-level Set comes back as
 * `{has: Set.prototype.has}`, whose call throws "Method Set.prototype.has called on incompatible
 * receiver". test/provider-serialization.test.ts shows it and keeps such captures out.
 */
const HARMLESS_WARNINGS: readonly string[] = ["domain_added_sogo_failed"];

/** What to do about an authentication refusal (sessions.inc.php:71-93 answers 401 for both). */
function refusalHint(message: string): string {
  if (/api access denied for ip/.test(message)) {
    return "add the address the stack's calls come from to mailstack:mailcow.apiAllowFrom (mailcow applies it when php-fpm starts)";
  }
  return "the API key was refused: the stack's key is mailcow.conf's API_KEY, applied when php-fpm starts; run `pulumi up` again after the bring-up re-applied mailcow.conf";
}

export async function api(
  connection: MailcowConnection,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<unknown> {
  // An empty key is no key: mailcow then answers a read with an empty 200 (json_api.php:449),
  // which must never look like "object gone".
  if (!connection.apiKey) throw new MailcowError(`mailcow ${path}: no API key to send; the stack's key is missing`);
  let response;
  try {
    response = await rest(
      endpointFrom(connection),
      // Edits, deletes and the DKIM import (it overwrites) may be sent twice; adding an object may not.
      {
        method,
        path: `/api/v1/${path}`,
        ...(body !== undefined ? { body } : {}),
        idempotent: !ADDS_OBJECT.test(path),
      },
      { "x-api-key": connection.apiKey },
      messageOf,
    );
  } catch (error) {
    if (error instanceof RestError && (error.status === 401 || error.status === 403)) {
      throw new MailcowError(`${error.message}; ${refusalHint(error.message)}`);
    }
    throw error;
  }
  const json = response.json as { type?: unknown } | undefined;
  if (method === "GET" && json === undefined) {
    throw new MailcowError(
      `mailcow ${path}: an empty answer, which mailcow gives a request without an API session; ${refusalHint("")}`,
    );
  }
  // A refusal in the body of a 2xx answer is never an object either.
  if (json && typeof json === "object" && !Array.isArray(json) && json.type === "error") {
    throw new MailcowError(`mailcow ${path}: ${messageOf(json) ?? "error"}`);
  }
  // Writes answer with a list of results; any that is not "success" fails the call.
  if (method === "POST" && Array.isArray(response.json)) {
    for (const entry of response.json as { type?: unknown; msg?: unknown }[]) {
      const key = Array.isArray(entry.msg) && typeof entry.msg[0] === "string" ? entry.msg[0] : String(entry.msg);
      if (entry.type === "success" || (entry.type === "warning" && HARMLESS_WARNINGS.includes(key))) continue;
      throw new MailcowError(`mailcow ${path}: ${messageOf(entry) ?? "failed"}`, key);
    }
  }
  return response.json;
}

/** Sends an add/ request once; when its answer is lost, `exists` tells whether it landed. */
export async function add(
  connection: MailcowConnection,
  path: string,
  body: unknown,
  exists: () => Promise<boolean>,
): Promise<void> {
  await createOnce(
    () => api(connection, "POST", path, body).then(() => true),
    async () => ((await exists()) ? true : undefined),
    connection.retries,
  );
}

/** A GET of one object: undefined when mailcow has none (it answers {} or []). */
export async function getOne(
  connection: MailcowConnection,
  path: string,
): Promise<Record<string, unknown> | undefined> {
  const json = await api(connection, "GET", path);
  if (!json || typeof json !== "object" || Array.isArray(json) || Object.keys(json).length === 0) return undefined;
  return json as Record<string, unknown>;
}

/** A field as text (mailcow mixes strings and numbers). */
export const text = (value: unknown, fallback = "") =>
  typeof value === "string" ? value : typeof value === "number" ? String(value) : fallback;
export const flag = (value: unknown) => value === true || value === 1 || value === "1";
export const bit = (value: boolean) => (value ? 1 : 0);

export function changedKeys<T extends object>(olds: T, news: T): (keyof T)[] {
  return (Object.keys(news) as (keyof T)[]).filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
}
