// The mail VM has a daily backup job to an encrypted Proxmox Backup Server storage.
import type { PolicyResource } from "@pulumi/policy";
import { RULES } from "../../common/policy-catalog";
import {
  TYPES,
  asArray,
  asRecord,
  isKnown,
  readUnlessUnknown,
  unknownProps,
  plainCopy,
  stackRule,
  knownString,
  text,
} from "../lib";

/** True for a systemd calendar / Proxmox schedule that fires every day. */
export function isDaily(schedule: string): boolean {
  const value = schedule.trim().toLowerCase();
  if (["minutely", "hourly", "daily"].includes(value)) return true;
  const parts = value.split(/\s+/);
  // A time alone ("02:00", "*/6:00") repeats every day; a date part must match every day.
  if (parts.length === 1) return /^[\d*/,.:]+$/.test(value) && value.includes(":");
  return parts.length === 2 && /^(\*-)?\*-\*$/.test(parts[0] ?? "") && /^[\d*/,.:]+$/.test(parts[1] ?? "");
}

function targets(job: PolicyResource, vm: PolicyResource): boolean {
  if (readUnlessUnknown(() => unknownProps(job).all) === true) return true;
  if (job.dependencies.some((d) => d.urn === vm.urn)) return true;
  const vmId = readUnlessUnknown(() => unknownProps(vm).vmId);
  const ids = readUnlessUnknown(() => asArray(unknownProps(job).vmids).map((id) => text(id)));
  return isKnown(vmId) && isKnown(ids) && vmId !== undefined && ids.includes(text(vmId));
}

export const vmBackup = stackRule(RULES.vmBackup, {
  description: "Every VM has an enabled daily backup job with daily retention to an encrypted PBS storage.",
  remediationSteps: "Configure mailstack:backup.pbs and a daily mailstack:backup.schedule with retention.daily >= 1.",
  validateStack: (args, report) => {
    const jobs = args.resources.filter((r) => r.type === TYPES.backupJobResource);
    const storages = new Map(
      args.resources
        .filter((r) => r.type === TYPES.pbs)
        .map((r) => [knownString(() => unknownProps(r).storage) ?? r.name, r]),
    );
    for (const vm of args.resources.filter((r) => r.type === TYPES.vm)) {
      const mine = jobs.filter((job) => targets(job, vm));
      if (mine.length === 0) {
        report(`VM ${vm.name} has no backup job: configure mailstack:backup.pbs`, vm.urn);
        continue;
      }
      for (const job of mine) {
        if (readUnlessUnknown(() => unknownProps(job).enabled) === false)
          report(`backup job ${job.name} is disabled: enable it (the stack declares it enabled)`, job.urn);
        const schedule = knownString(() => unknownProps(job).schedule);
        if (schedule !== undefined && !isDaily(schedule))
          report(`backup job ${job.name} runs "${schedule}", not every day: use e.g. "*-*-* 02:00"`, job.urn);
        const prune = plainCopy(() => unknownProps(job).pruneBackups);
        if (isKnown(prune)) {
          const keep = asRecord(prune);
          const daily = keep["keep-daily"];
          const last = keep["keep-last"];
          if (isKnown(daily) && isKnown(last) && !(Number(daily ?? 0) >= 1) && !(Number(last ?? 0) >= 7))
            report(`backup job ${job.name} keeps no daily backups: set mailstack:backup.retention.daily`, job.urn);
        }
        const storageId = knownString(() => unknownProps(job).storage);
        if (storageId === undefined) continue;
        const storage = storages.get(storageId);
        if (!storage) {
          report(
            `backup job ${job.name} writes to ${storageId}, not to a Proxmox Backup Server the stack manages: configure mailstack:backup.pbs`,
            job.urn,
          );
          continue;
        }
        const key = readUnlessUnknown(() => unknownProps(storage).encryptionKey);
        if (isKnown(key) && !key)
          report(
            `PBS storage ${storageId} stores backups unencrypted: give it the stack's encryption key`,
            storage.urn,
          );
      }
    }
  },
});
