// Writing to one pfSense one request at a time, and applying. Read in pfrest's source
// (pfrest/pfSense-pkg-RESTAPI@v2.10.0, R/ = pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/) and
// pfSense's src/etc/inc/filter.inc (RELENG_2_7_2):
//
// - Every request reads the whole config when it starts and writes all of it back (R/autoloader.inc
//   loads config.inc once; Model::write_config): two writes that overlap lose one. All writes of a
//   deployment to one pfSense therefore go one at a time (`exclusive`, shared by every copy of this
//   provider in the process: Pulumi runs resource operations concurrently, and the deletes of a
//   deployment may run with the provider an older deployment serialized).
// - Filter rule writes mark no subsystem dirty (R/Models/FirewallRule.inc sets none; FirewallAlias
//   marks `aliases`, PortForward `natconf`), so GET /firewall/apply says "applied" after a change
//   that touches only rules. The provider applies whenever its own writes changed something:
//   PfSenseApply after the creates and updates (every write leaves a new write id, the apply's
//   revision is derived from them), and each removal by itself.
// - POST /firewall/apply reloads in the background unless `async: false` (R/Core/Endpoint.inc
//   `$async = true`; R/Models/FirewallApply.inc apply(); R/Dispatchers/FirewallApplyDispatcher.inc
//   filter_configure_sync()), and its answer never carries a reload error. The provider applies
//   synchronously, then reads the system log (GET /api/v2/status/logs/system, R/Models/SystemLog.inc):
//   a ruleset pf refused ("There were error(s) loading the rules", filter.inc
//   filter_configure_sync, which then keeps the old ruleset and the dirty flags) or a rule of ours
//   pfSense left out ("Unresolvable … alias", filter.inc filter_generate_user_rule) fails the
//   apply with pfSense's own words.
// Part of the serialized provider (providers/pfsense/provider.ts): no module-level Set or Map.
import { errorMessage } from "../rest";
import { call, processState, type Gate, type PfSenseConnection } from "./client";

/** nginx's fastcgi_read_timeout for /api/v2/ (R/nginx.inc): a synchronous reload answers within it. */
const APPLY_TIMEOUT_MS = 180_000;
/** System log lines read after an apply (GET /status/logs/system returns the last `limit`). */
const LOG_WINDOW = 200;

function gateOf(connection: PfSenseConnection): Gate {
  const gates = processState().gates;
  const gate = gates[connection.endpoint] ?? { tail: Promise.resolve(), waiting: 0, unapplied: false };
  gates[connection.endpoint] = gate;
  return gate;
}

/**
 * Runs `work` when no other write to this pfSense is running, then applies a removal still
 * unapplied when nothing else is waiting (so a burst of deletes reloads the filter once).
 */
export async function exclusive<T>(connection: PfSenseConnection, work: (gate: Gate) => Promise<T>): Promise<T> {
  const gate = gateOf(connection);
  const before = gate.tail;
  let release!: () => void;
  gate.tail = new Promise<void>((resolve) => {
    release = resolve;
  });
  gate.waiting++;
  await before;
  gate.waiting--;
  try {
    let result: T;
    try {
      result = await work(gate);
    } catch (error) {
      if (gate.unapplied && gate.waiting === 0) {
        const applied = await applyConfirmed(connection, gate).then(
          () => undefined,
          (applyError: unknown) => errorMessage(applyError),
        );
        if (applied !== undefined) throw new Error(`${errorMessage(error)}; and applying: ${applied}`);
      }
      throw error;
    }
    if (gate.unapplied && gate.waiting === 0) await applyConfirmed(connection, gate);
    return result;
  } finally {
    release();
  }
}

async function systemLog(connection: PfSenseConnection, limit: number): Promise<string[]> {
  const lines = await call(connection, "GET", "/api/v2/status/logs/system", { query: { limit } });
  if (!Array.isArray(lines)) throw new Error("pfSense /api/v2/status/logs/system: expected a list");
  return (lines as { text?: unknown }[]).map((line) => (typeof line.text === "string" ? line.text : ""));
}

/** The lines of `after` that follow the last lines of `before` (all of them when those are gone). */
function newLines(before: readonly string[], after: readonly string[]): string[] {
  const tail = before.slice(-3);
  if (tail.length === 0) return [...after];
  for (let end = after.length; end >= tail.length; end--) {
    if (tail.every((line, i) => after[end - tail.length + i] === line)) return after.slice(end);
  }
  return [...after];
}

/** What a reload said went wrong for the stack: pf refused the ruleset, or left one of our rules out. */
function reloadFailures(lines: readonly string[]): string[] {
  return lines
    .filter(
      (line) =>
        line.includes("There were error(s) loading the rules") ||
        (/(Unresolvable|Empty) (source|destination)( port)? alias/.test(line) && line.includes("[mailstack:")),
    )
    .map((line) => line.replace(/^.*New alert found: /, ""));
}

/**
 * Reloads pfSense's filter synchronously and confirms the ruleset was loaded: pfrest's answer
 * never says so (R/Models/FirewallApply.inc apply() spawns the reload, its result is dropped), so
 * the system log written meanwhile is read for pfSense's own notices, and the dirty flags must
 * be clear afterwards (filter.inc clears them only at the end of a successful reload).
 */
export async function applyConfirmed(connection: PfSenseConnection, gate: Gate): Promise<void> {
  const before = await systemLog(connection, 10);
  const status = (await call(connection, "POST", "/api/v2/firewall/apply", {
    body: { async: false },
    idempotent: true,
    timeoutMs: Math.max(connection.timeoutMs ?? 0, APPLY_TIMEOUT_MS),
  })) as { applied?: unknown; pending_subsystems?: unknown } | null;
  const failures = reloadFailures(newLines(before, await systemLog(connection, LOG_WINDOW)));
  if (failures.length > 0)
    throw new Error(
      `pfSense did not load the new firewall rules: ${failures.join("; ")}. pfSense keeps enforcing the ` +
        `rules it had; fix the cause (Status > System Logs > System) and run \`pulumi up\` again`,
    );
  if (status?.applied !== true) {
    const pending = Array.isArray(status?.pending_subsystems) ? status.pending_subsystems.join(", ") : "?";
    throw new Error(
      `pfSense still reports unapplied changes (${pending}) after a synchronous filter reload: the reload ` +
        `failed or someone changed the firewall meanwhile; see Status > System Logs > System and run \`pulumi up\` again`,
    );
  }
  gate.unapplied = false;
}
