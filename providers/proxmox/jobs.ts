// vzdump backup jobs (pve-manager PVE/API2/Backup.pm, cited per call; the tags are listed in
// providers/proxmox/provider.ts). Part of the serialized provider.
import type * as pulumi from "@pulumi/pulumi";
import { createOnce, RestError } from "../rest";
import { type PveConnection, type PveValue, jobPath, pve, readJob } from "./client";
import {
  type Field,
  JOB_ID,
  STORAGE_ID,
  changes,
  checkConnection,
  checkPrune,
  field,
  flag,
  known,
  numbers,
  observed,
  pruneOf,
  pruneString,
  putBody,
  same,
  sameConnection,
  strings,
  text,
  withoutUndefined,
} from "./values";

// ---- backup jobs --------------------------------------------------------------------------

export interface BackupJobInputs {
  readonly connection: PveConnection;
  /** The job id (cluster-wide, unique per stack; `id` is Pulumi's own). */
  readonly jobId: string;
  /** Proxmox calendar event, e.g. "*-*-* 02:00". */
  readonly schedule: string;
  /** The storage the backups go to. */
  readonly storage: string;
  readonly vmids: readonly number[];
  readonly mode: "snapshot" | "suspend" | "stop";
  readonly compress: "0" | "1" | "gzip" | "lzo" | "zstd";
  readonly pruneBackups?: Readonly<Record<string, number>>;
  /** Deprecated in PVE 8.1+ for the notification system, still honoured with notificationMode auto. */
  readonly mailNotification?: "always" | "failure";
  readonly mailTo?: readonly string[];
  readonly notificationMode?: "auto" | "legacy-sendmail" | "notification-system";
  readonly enabled: boolean;
  readonly repeatMissed: boolean;
  readonly notesTemplate?: string;
  /** PVE's job comment, and the mark of this stack's job: one with another comment is never adopted. */
  readonly comment: string;
}

export type BackupJobOutputs = BackupJobInputs;

const withDefault = (fallback: string) => (raw: unknown) => text(raw) ?? fallback;
const bit = (value: unknown) => (value ? 1 : 0);

/** The job's fields (pve-guest-common src/PVE/VZDump/Common.pm confdesc, Backup.pm create/update). */
const JOB_FIELDS: readonly Field<BackupJobInputs>[] = [
  field("schedule", "schedule"),
  field("storage", "storage"),
  field("vmids", "vmid", { encode: (value) => numbers(value)?.join(","), observe: numbers, normalize: numbers }),
  field("mode", "mode", { observe: withDefault("snapshot") }),
  field("compress", "compress", { observe: withDefault("0") }),
  field("pruneBackups", "prune-backups", {
    encode: (value) => pruneString(value as Record<string, number> | undefined),
    observe: pruneOf,
    normalize: pruneOf,
  }),
  field("mailNotification", "mailnotification"),
  field("mailTo", "mailto", { encode: (value) => strings(value)?.join(","), observe: strings, normalize: strings }),
  field("notificationMode", "notification-mode"),
  // enabled defaults to 1 (Backup.pm:329), repeat-missed to 0 (:138-144).
  field("enabled", "enabled", { encode: bit, observe: (raw) => flag(raw, true) }),
  field("repeatMissed", "repeat-missed", { encode: bit, observe: (raw) => flag(raw, false) }),
  field("notesTemplate", "notes-template"),
  field("comment", "comment"),
];

function jobBody(inputs: BackupJobInputs): Record<string, PveValue> {
  const body: Record<string, PveValue> = { id: inputs.jobId };
  for (const f of JOB_FIELDS) {
    const value = f.encode(inputs[f.key]);
    if (value !== undefined) body[f.pve] = value;
  }
  return body;
}

export const backupJobProvider: pulumi.dynamic.ResourceProvider<BackupJobInputs, BackupJobOutputs> = {
  check(_olds, news) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    checkConnection(news.connection, failures);
    if (known(news.jobId) && (!JOB_ID.test(news.jobId) || news.jobId.length > 50))
      failures.push({
        property: "jobId",
        reason: `"${news.jobId}" is not a backup job id (a letter, then letters, digits, "-" or "_"; at most 50 characters)`,
      });
    if (known(news.storage) && !STORAGE_ID.test(news.storage))
      failures.push({ property: "storage", reason: `"${news.storage}" is not a PVE storage id` });
    if (known(news.vmids)) {
      if (news.vmids.length === 0) failures.push({ property: "vmids", reason: "name at least one VM id" });
      for (const vmid of news.vmids)
        if (known(vmid) && !/^[1-9][0-9]{2,8}$/.test(String(vmid)))
          failures.push({ property: "vmids", reason: `${String(vmid)} is not a VM id (100…999999999)` });
    }
    if (known(news.schedule) && (news.schedule.trim() === "" || /[\r\n]/.test(news.schedule)))
      failures.push({ property: "schedule", reason: 'expected a Proxmox calendar event such as "*-*-* 02:00"' });
    for (const key of ["comment", "notesTemplate"] as const) {
      const value = news[key];
      if (known(value) && /[\r\n]/.test(value ?? ""))
        failures.push({ property: key, reason: "must be one line (PVE stores it in jobs.cfg)" });
    }
    if (known(news.comment) && (news.comment.trim() === "" || news.comment.length > 512))
      failures.push({ property: "comment", reason: "the comment marks the job as this stack's: 1…512 characters" });
    checkPrune(news.pruneBackups, failures);
    return Promise.resolve({ inputs: news, failures });
  },

  async create(inputs) {
    const { connection, jobId: id } = inputs;
    const ours = (raw: Record<string, unknown>) => raw.comment === inputs.comment;
    const existing = await readJob(connection, id);
    if (existing) {
      if (!ours(existing)) {
        throw new Error(
          `PVE already has a backup job "${id}" that this stack did not create (its comment is not "${inputs.comment}"):` +
            " delete it (Datacenter → Backup) if it is a leftover, or give this stack's job another id",
        );
      }
      const { set, drop } = changes(JOB_FIELDS, observed(JOB_FIELDS, existing), inputs);
      if (set["notes-template"] !== undefined) set.storage = inputs.storage;
      if (Object.keys(set).length > 0 || drop.length > 0) await pve(connection, "PUT", jobPath(id), putBody(set, drop));
      return { id, outs: inputs };
    }
    await createOnce(
      () => pve(connection, "POST", "/cluster/backup", jobBody(inputs)).then(() => true),
      async () => {
        const landed = await readJob(connection, id);
        return landed && ours(landed) ? true : undefined;
      },
      connection.retries,
    );
    return { id, outs: inputs };
  },

  async read(id, props) {
    if (!props) throw new Error(`PVE backup job ${id}: nothing to read without its connection`);
    const raw = await readJob(props.connection, id);
    if (!raw) return {};
    return { id, props: withoutUndefined({ ...props, ...observed(JOB_FIELDS, raw) }) };
  },

  diff(_id, olds, news) {
    const changed = JOB_FIELDS.some((f) => !same(f, olds[f.key], news[f.key]));
    return Promise.resolve({
      changes: changed || olds.jobId !== news.jobId || !sameConnection(olds.connection, news.connection),
      replaces: olds.jobId !== news.jobId ? ["jobId"] : [],
    });
  },

  async update(id, olds, news) {
    const { set, drop } = changes(JOB_FIELDS, olds, news);
    // notes-template `requires` storage in the same request (Common.pm confdesc; JSONSchema.pm check_object).
    if (set["notes-template"] !== undefined) set.storage = news.storage;
    if (Object.keys(set).length > 0 || drop.length > 0) {
      try {
        await pve(news.connection, "PUT", jobPath(id), putBody(set, drop));
      } catch (error) {
        if (error instanceof RestError && error.message.includes("no such vzdump job")) {
          throw new Error(
            `PVE backup job "${id}" is gone; run \`pulumi refresh\`, then \`pulumi up\` creates it again`,
          );
        }
        throw error;
      }
    }
    return { outs: news };
  },

  async delete(id, props) {
    if (!(await readJob(props.connection, id))) return;
    try {
      await pve(props.connection, "DELETE", jobPath(id));
    } catch (error) {
      // Removed by someone else in the meantime (a stringified 400 inside a 500, Backup.pm:450-475).
      if (!(error instanceof RestError && error.message.includes(`No such job '${id}'`))) throw error;
    }
  },
};
