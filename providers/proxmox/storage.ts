// The Proxmox Backup Server storage in PVE with the stack's own encryption key (pve-storage
// src/PVE/API2/Storage/Config.pm and src/PVE/Storage/PBSPlugin.pm, cited per call; the tags are
// listed in providers/proxmox/provider.ts). Part of the serialized provider.
import type * as pulumi from "@pulumi/pulumi";
import { pbsKeyFileFingerprint } from "../../render/pbs-key";
import { createOnce, RestError } from "../rest";
import { type PveConnection, type PveValue, pve, readStorage, storagePath } from "./client";
import {
  CERT_FINGERPRINT,
  type Field,
  NODE_NAME,
  PBS_AUTH_ID,
  STORAGE_ID,
  changes,
  checkConnection,
  checkPrune,
  field,
  flag,
  known,
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

// ---- PBS storage --------------------------------------------------------------------------

export interface PbsStorageInputs {
  readonly connection: PveConnection;
  /** The storage id (cluster-wide, unique per stack). */
  readonly storage: string;
  readonly server: string;
  readonly port?: number;
  readonly datastore: string;
  /** PBS namespace (none: the datastore's root). */
  readonly namespace?: string;
  /** PBS user (user@realm) or API token (user@realm!name). */
  readonly username: string;
  /** The PBS password or token secret (secret). */
  readonly password: string;
  /** SHA-256 fingerprint of the PBS certificate (pinned by PVE). */
  readonly fingerprint: string;
  /** Nodes that may use the storage (none: all). */
  readonly nodes?: readonly string[];
  /** Retention for backups without a job of their own (keep-daily …). */
  readonly pruneBackups?: Readonly<Record<string, number>>;
  /** The PBS key file (render/pbs-key.ts, secret): PVE encrypts every backup with it. */
  readonly encryptionKey: string;
  /** Allow a changed encryptionKey (new backups then use the new key; old ones need the old key). */
  readonly allowKeyRotation?: boolean;
}

export interface PbsStorageOutputs extends PbsStorageInputs {
  /** The key fingerprint PVE has (storage.cfg `encryption-key`; "1" for a key without one, null for none). */
  readonly keyFingerprint: string | null;
  /** PVE's content types for the storage (ours: backup). */
  readonly content: string;
  /** Whether the storage is disabled in PVE. */
  readonly disabled: boolean;
}

/** Fields PVE's PBS plugin cannot change in place (`fixed`, PBSPlugin.pm:65-66), plus the id. */
const STORAGE_FIXED = ["storage", "server", "datastore"] as const;

/** The updatable fields (PBSPlugin.pm options :63-80 without fixed and sensitive ones). */
const STORAGE_FIELDS: readonly Field<PbsStorageInputs>[] = [
  field("port", "port", { observe: (raw) => (raw === undefined ? undefined : Number(raw)) }),
  field("namespace", "namespace"),
  field("username", "username"),
  field("fingerprint", "fingerprint", { normalize: (value) => text(value)?.toLowerCase() }),
  field("nodes", "nodes", {
    encode: (value) => strings(value)?.join(","),
    // PVE prints nodes in hash order (Plugin.pm encode_value): compare as sets.
    observe: strings,
    normalize: strings,
  }),
  field("pruneBackups", "prune-backups", {
    encode: (value) => pruneString(value as Record<string, number> | undefined),
    observe: pruneOf,
    normalize: pruneOf,
  }),
];

function observeStorage(raw: Record<string, unknown>) {
  const keyFingerprint = text(raw["encryption-key"]);
  return {
    ...observed(STORAGE_FIELDS, raw),
    server: text(raw.server) ?? "",
    datastore: text(raw.datastore) ?? "",
    keyFingerprint: keyFingerprint ?? null,
    content: text(raw.content) ?? "",
    disabled: flag(raw.disable, false),
  };
}

const keyFingerprintOf = (inputs: PbsStorageInputs) =>
  known(inputs.encryptionKey) ? pbsKeyFileFingerprint(inputs.encryptionKey) : undefined;

function storageOutputs(inputs: PbsStorageInputs): PbsStorageOutputs {
  return { ...inputs, keyFingerprint: pbsKeyFileFingerprint(inputs.encryptionKey), content: "backup", disabled: false };
}

/** The PUT that brings an existing storage to the inputs (password and key only when asked). */
function storageUpdate(
  current: Partial<PbsStorageOutputs>,
  wanted: PbsStorageInputs,
  options: { password: boolean; key: boolean },
): Record<string, PveValue> {
  const { set, drop } = changes(STORAGE_FIELDS, current, wanted);
  if (current.content !== "backup") set.content = "backup";
  if (current.disabled) drop.push("disable");
  // A password goes to /etc/pve/priv/storage/<id>.pw, a key to <id>.enc (on_update_hook :554-581).
  if (options.password) set.password = wanted.password;
  if (options.key) set["encryption-key"] = wanted.encryptionKey;
  return putBody(set, drop);
}

function keyRotationRefused(olds: Partial<PbsStorageInputs>, news: PbsStorageInputs): string | undefined {
  if (!known(olds.encryptionKey) || !known(news.encryptionKey) || news.allowKeyRotation === true) return undefined;
  const before = pbsKeyFileFingerprint(olds.encryptionKey as string);
  const after = pbsKeyFileFingerprint(news.encryptionKey);
  if (before === after) return undefined;
  return (
    `the PBS encryption key of storage ${news.storage} would change (${before.slice(0, 23)}… → ${after.slice(0, 23)}…):` +
    " backups made so far can then only be restored with the old key. Save the old key" +
    " (pulumi stack output --show-secrets), then set allowKeyRotation to rotate on purpose"
  );
}

export const pbsStorageProvider: pulumi.dynamic.ResourceProvider<PbsStorageInputs, PbsStorageOutputs> = {
  check(olds, news) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    checkConnection(news.connection, failures);
    if (known(news.storage) && !STORAGE_ID.test(news.storage))
      failures.push({
        property: "storage",
        reason: `"${news.storage}" is not a PVE storage id (a letter, then letters, digits, "-", "_" or ".", ending in a letter or digit)`,
      });
    if (known(news.fingerprint) && !CERT_FINGERPRINT.test(news.fingerprint))
      failures.push({
        property: "fingerprint",
        reason: "expected the PBS certificate's SHA-256 fingerprint (32 hex pairs joined by ':')",
      });
    if (known(news.username) && !PBS_AUTH_ID.test(news.username))
      failures.push({ property: "username", reason: "expected a PBS user (user@realm) or token (user@realm!name)" });
    if (known(news.password) && (news.password === "" || /[\r\n]/.test(news.password)))
      failures.push({
        property: "password",
        reason: "the PBS password must be one non-empty line (PVE stores its first line)",
      });
    if (
      known(news.port) &&
      (!Number.isInteger(news.port) || (news.port as number) < 1 || (news.port as number) > 65535)
    )
      failures.push({ property: "port", reason: "the PBS port must be 1…65535" });
    for (const node of known(news.nodes) ? (news.nodes ?? []) : [])
      if (known(node) && !NODE_NAME.test(node))
        failures.push({ property: "nodes", reason: `"${node}" is not a node name` });
    checkPrune(news.pruneBackups, failures);
    if (known(news.encryptionKey)) {
      try {
        pbsKeyFileFingerprint(news.encryptionKey);
        const refused = keyRotationRefused(olds, news);
        if (refused) failures.push({ property: "encryptionKey", reason: refused });
      } catch (error) {
        failures.push({ property: "encryptionKey", reason: (error as Error).message });
      }
    }
    return Promise.resolve({ inputs: news, failures });
  },

  async create(inputs) {
    const { connection, storage: id } = inputs;
    const fingerprint = pbsKeyFileFingerprint(inputs.encryptionKey);
    // Ours: a PBS storage with our key (left by a run that died after PVE created it).
    const ours = (raw: Record<string, unknown>) => raw.type === "pbs" && raw["encryption-key"] === fingerprint;
    const existing = await readStorage(connection, id);
    if (existing) {
      if (!ours(existing)) {
        const what =
          existing.type === "pbs" ? "a PBS storage with another encryption key" : `a ${text(existing.type)} storage`;
        throw new Error(
          `PVE already has a storage "${id}" that this stack did not create (${what}): set another` +
            " mailstack:backup.pbs.storageId, or remove it (`pvesm remove " +
            id +
            "`; the backups on the PBS stay) if it is a leftover",
        );
      }
      const current = observeStorage(existing);
      if (current.server !== inputs.server || current.datastore !== inputs.datastore) {
        throw new Error(
          `PVE's storage "${id}" has this stack's key but points at ${current.server}/${current.datastore}:` +
            " PVE cannot change server or datastore in place; remove it (`pvesm remove " +
            id +
            "`) and run `pulumi up` again",
        );
      }
      await pve(connection, "PUT", storagePath(id), storageUpdate(current, inputs, { password: true, key: false }));
      return { id, outs: storageOutputs(inputs) };
    }
    const body: Record<string, PveValue> = {
      type: "pbs",
      storage: id,
      server: inputs.server,
      datastore: inputs.datastore,
      content: "backup",
      password: inputs.password,
      "encryption-key": inputs.encryptionKey,
    };
    for (const f of STORAGE_FIELDS) {
      const value = f.encode(inputs[f.key]);
      if (value !== undefined) body[f.pve] = value;
    }
    await createOnce(
      () => pve(connection, "POST", "/storage", body).then(() => true),
      // The POST may have landed although its answer was lost: look before sending it again.
      async () => {
        const landed = await readStorage(connection, id);
        return landed && ours(landed) ? true : undefined;
      },
      connection.retries,
    );
    return { id, outs: storageOutputs(inputs) };
  },

  async read(id, props) {
    if (!props) throw new Error(`PVE storage ${id}: nothing to read without its connection`);
    const raw = await readStorage(props.connection, id);
    if (!raw) return {}; // gone: Pulumi drops it from the state
    if (raw.type !== "pbs") {
      throw new Error(
        `PVE storage "${id}" is now a ${text(raw.type)} storage, not PBS: someone replaced it; remove it or pick another storage id`,
      );
    }
    return { id, props: withoutUndefined({ ...props, ...observeStorage(raw) }) };
  },

  diff(_id, olds, news) {
    const replaces = STORAGE_FIXED.filter((key) => olds[key] !== news[key]);
    const fields = STORAGE_FIELDS.filter((f) => !same(f, olds[f.key], news[f.key])).map((f) => f.key);
    const wantedKey = keyFingerprintOf(news);
    const keyDrift =
      wantedKey === undefined || olds.keyFingerprint !== wantedKey || olds.encryptionKey !== news.encryptionKey;
    const changed =
      replaces.length > 0 ||
      fields.length > 0 ||
      keyDrift ||
      olds.password !== news.password ||
      olds.content !== "backup" ||
      olds.disabled ||
      olds.allowKeyRotation !== news.allowKeyRotation ||
      !sameConnection(olds.connection, news.connection);
    return Promise.resolve({
      changes: changed,
      replaces: [...replaces],
      // The same id cannot exist twice ("storage ID '<id>' already defined", Config.pm:256-258).
      deleteBeforeReplace: replaces.length > 0 && olds.storage === news.storage,
    });
  },

  async update(id, olds, news) {
    const refused = keyRotationRefused(olds, news);
    if (refused) throw new Error(refused);
    const wantedKey = pbsKeyFileFingerprint(news.encryptionKey);
    const body = storageUpdate(olds, news, {
      // A password change is a PUT (on_update_hook writes <id>.pw), never a new storage.
      password: olds.password !== news.password,
      // The key is sent only when it changed or PVE has another one (a drift put back).
      key: olds.keyFingerprint !== wantedKey || olds.encryptionKey !== news.encryptionKey,
    });
    if (Object.keys(body).length > 0) {
      try {
        await pve(news.connection, "PUT", storagePath(id), body);
      } catch (error) {
        if (error instanceof RestError && error.message.includes(`storage '${id}' does not exist`)) {
          throw new Error(`PVE storage "${id}" is gone; run \`pulumi refresh\`, then \`pulumi up\` creates it again`);
        }
        throw error;
      }
    }
    return { outs: storageOutputs(news) };
  },

  async delete(id, props) {
    // PVE deletes <id>.pw and <id>.enc with it (on_delete_hook); the backups on the PBS stay.
    if (!(await readStorage(props.connection, id))) return;
    try {
      await pve(props.connection, "DELETE", storagePath(id));
    } catch (error) {
      // Removed by someone else in the meantime.
      if (!(error instanceof RestError && error.message.includes(`storage '${id}' does not exist`))) throw error;
    }
  },
};
