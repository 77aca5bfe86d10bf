// A Pulumi dynamic provider for the Proxmox VE API (https://<node>:8006/api2/json, API token in
// `Authorization: PVEAPIToken=<user@realm!tokenid>=<secret>`): the Proxmox Backup Server storage
// with the stack's own encryption key, and vzdump backup jobs. It replaces the bridged
// proxmoxve.storage.Pbs / backup.Job, whose Create panics after the object exists and whose PBS
// storage cannot be updated in place (see /work/notes/pbs-proxmox-860.md). Self-contained:
// dynamic providers are serialized with everything they import (no module-level Set or Map, see
// ../rest.ts). The modules beside this one: client.ts (requests), values.ts (formats, fields),
// storage.ts (the PBS storage), jobs.ts (backup jobs), resources.ts (the resource classes).
//
// Upstream read (tags/commits as fetched):
// - pve-storage master 0c56bad8 (libpve-storage-perl 9.1.7): src/PVE/API2/Storage/Config.pm (read
//   :174-196, create :198-296, update :298-413, delete :415-466), src/PVE/Storage/PBSPlugin.pm
//   (options :63-80, sensitive properties :34-38, on_add_hook :506-547, on_update_hook :549-595,
//   on_delete_hook :597-605), src/PVE/Storage.pm storage_config :252-262.
// - pve-common master f665029: SectionConfig.pm check_config (fixed options cannot change) and
//   updateSchema (fixed keys left out), JSONSchema.pm (formats, "Parameter verification failed."),
//   Exception.pm (raise_perm_exc → 403 "Permission check failed (<path>, <privs>)").
// - pve-manager master 14a22df3 (9.2.11): PVE/API2/Backup.pm (create_job :244-357, read_job
//   :359-409, delete_job :411-479, update_job :481-653, permissions :38-91), PVE/HTTPServer.pm
//   auth_handler (any token failure → 401 "Authentication failed!") and rest_handler (die → 500
//   with the message, PVE::Exception → its code).
// - pve-http-server master 5c9e4ea7: Formatter/Standard.pm:14-51 (errors as {data: null, message,
//   errors}; `message` only since 9a2112e, older versions put it in the status line only),
//   AnyEvent.pm:293-330 (the status line's reason is the message's first line).
import { dispatchingProvider, handlers } from "../dispatch";
import { backupJobProvider } from "./jobs";
import { pbsStorageProvider } from "./storage";

// ---- one provider for both ----------------------------------------------------------------

const HANDLERS = handlers({ pbsStorage: pbsStorageProvider, backupJob: backupJobProvider });

export const proxmoxProvider = dispatchingProvider((kind) => {
  const found = HANDLERS[kind as keyof typeof HANDLERS];
  if (!found) throw new Error(`proxmox provider: unknown kind ${String(kind)}`);
  return found;
});
