// At most N requests in flight per API (mailstack:apiConcurrency), across every resource of the
// deployment. The engine runs many resource operations at once (`pulumi up --parallel`, by default
// unbounded), and the dynamic provider host answers each in the same process: it deserializes a
// provider's code once per provider text and keeps it (@pulumi/pulumi 3.248.0
// cmd/dynamic-provider/index.js getProvider, providerCache), but each serialized provider (and each
// provider text, e.g. one written by an older stack version) carries its own copy of this module,
// and Pulumi's closure serializer rebuilds a module-level Map or Set as a plain object whose methods
// throw (test/provider-serialization.test.ts). So the slots live on globalThis, one plain record
// per API base URL, made on first use inside the call: every copy of this code in the process
// shares them.

/** When a connection names no limit. */
export const DEFAULT_API_CONCURRENCY = 4;

interface Slots {
  active: number;
  /** Callers waiting for a slot, first come first served. */
  readonly waiting: (() => void)[];
}

const GLOBAL_KEY = "__mailstackApiSlots";

function slotsOf(api: string): Slots {
  const holder = globalThis as unknown as Record<string, Record<string, Slots> | undefined>;
  const all = (holder[GLOBAL_KEY] ??= {});
  return (all[api] ??= { active: 0, waiting: [] });
}

/**
 * Runs `send` once fewer than `limit` requests to `api` (its base URL) are in flight from this
 * process; the slot is held only while `send` runs (not while a caller backs off between retries).
 */
export async function withApiSlot<T>(api: string, limit: number, send: () => Promise<T>): Promise<T> {
  const slots = slotsOf(api);
  const bound = Number.isInteger(limit) && limit > 0 ? limit : DEFAULT_API_CONCURRENCY;
  if (slots.active >= bound) await new Promise<void>((resolve) => slots.waiting.push(resolve));
  else slots.active++;
  try {
    return await send();
  } finally {
    // The slot passes straight to the next waiter (active stays), or is given back.
    const next = slots.waiting.shift();
    if (next) next();
    else slots.active--;
  }
}
