// A VM under Proxmox HA can really be started elsewhere: its node-affinity rule names at least
// two nodes, and its disks are on shared storage or replicated (a PVE replication job) to
// another of those nodes. Without that, HA "relocates" a VM whose disks stayed on the dead node.
import type { PolicyResource } from "@pulumi/policy";
import { RULES } from "../../common/policy-catalog";
import {
  TYPES,
  asArray,
  asRecord,
  isKnown,
  knownString,
  plainCopy,
  readUnlessUnknown,
  stackRule,
  text,
  unknownProps,
} from "../lib";

/**
 * The storages PVE's installer creates on every node (a directory, LVM-thin, a ZFS pool): never
 * shared. The pack cannot see a storage's type, only its id; any other id counts as shared.
 */
export const NODE_LOCAL_STORAGES: ReadonlySet<string> = new Set(["local", "local-lvm", "local-zfs"]);

const dependsOn = (resource: PolicyResource, on: PolicyResource) => resource.dependencies.some((d) => d.urn === on.urn);

/** The VM's HA resources: by their `vm:<vmid>` id, or by the dependency the id carries. */
function haResourcesOf(vm: PolicyResource, all: readonly PolicyResource[]): PolicyResource[] {
  const vmId = knownString(() => text(unknownProps(vm).vmId));
  return all.filter(
    (ha) =>
      ha.type === TYPES.haResource &&
      (dependsOn(ha, vm) || (vmId !== undefined && knownString(() => unknownProps(ha).resourceId) === `vm:${vmId}`)),
  );
}

/** The nodes of the node-affinity rules that name `ha` (by id or dependency); undefined while unknown. */
function affinityNodes(ha: PolicyResource, all: readonly PolicyResource[]): Set<string> | undefined {
  const id = knownString(() => unknownProps(ha).resourceId);
  const nodes = new Set<string>();
  for (const rule of all.filter((r) => r.type === TYPES.haRule)) {
    const type = readUnlessUnknown(() => unknownProps(rule).type);
    if (!isKnown(type)) return undefined;
    if (type !== "node-affinity") continue;
    const resources = plainCopy(() => unknownProps(rule).resources);
    const names = Array.isArray(resources) ? resources.map((r) => text(r)) : [];
    if (!dependsOn(rule, ha) && !(id !== undefined && names.includes(id))) continue;
    const listed = plainCopy(() => unknownProps(rule).nodes);
    if (!isKnown(listed)) return undefined;
    for (const node of Object.keys(asRecord(listed))) nodes.add(node);
  }
  return nodes;
}

/** The storages of the VM's disks and cloud-init drive; undefined while unknown. */
function vmStorages(vm: PolicyResource): string[] | undefined {
  const disks = plainCopy(() => unknownProps(vm).disks);
  const init = plainCopy(() => unknownProps(vm).initialization);
  if (!isKnown(disks) || !isKnown(init)) return undefined;
  const ids = [...asArray(disks).map((disk) => asRecord(disk).datastoreId), asRecord(init).datastoreId];
  return ids.filter((id) => typeof id === "string" && id !== "").map((id) => text(id));
}

/** The nodes the VM's enabled replication jobs (`<vmid>-<n>`, or by dependency) copy its disks to. */
function replicationTargets(vm: PolicyResource, all: readonly PolicyResource[]): string[] {
  const vmId = knownString(() => text(unknownProps(vm).vmId));
  return all
    .filter(
      (job) =>
        job.type === TYPES.replication &&
        (dependsOn(job, vm) ||
          (vmId !== undefined && knownString(() => unknownProps(job).resourceId)?.startsWith(`${vmId}-`))),
    )
    .filter((job) => readUnlessUnknown(() => unknownProps(job).disable) !== true)
    .flatMap((job) => knownString(() => unknownProps(job).target) ?? []);
}

export const replicatedHa = stackRule(RULES.replicatedHa, {
  description:
    "A VM under Proxmox HA may start on at least two nodes, and its disks are on shared storage or replicated to another of them.",
  remediationSteps:
    "Name at least two nodes in mailstack:vm.ha.nodes, and put the VM's disks on shared storage (Ceph RBD, NFS) in mailstack:proxmox.vmDatastore or replicate them with mailstack:vm.ha.replication.",
  validateStack: (args, report) => {
    for (const vm of args.resources.filter((r) => r.type === TYPES.vm)) {
      for (const ha of haResourcesOf(vm, args.resources)) {
        const nodes = affinityNodes(ha, args.resources);
        if (nodes === undefined) continue;
        if (nodes.size < 2) {
          report(
            `VM ${vm.name} is under HA (${ha.name}) but ${nodes.size === 0 ? "no node-affinity rule names it" : `its node-affinity rule names only ${[...nodes].join(", ")}`}: name at least two nodes in mailstack:vm.ha.nodes`,
            ha.urn,
          );
        }
        const storages = vmStorages(vm);
        if (storages === undefined) continue;
        const local = storages.filter((id) => NODE_LOCAL_STORAGES.has(id));
        if (local.length === 0) continue;
        const home = knownString(() => unknownProps(vm).nodeName);
        const targets = replicationTargets(vm, args.resources).filter((node) => node !== home && nodes.has(node));
        if (targets.length === 0) {
          report(
            `VM ${vm.name} is under HA (${ha.name}) with its disks on node-local storage ${[...new Set(local)].join(", ")} and no replication job to another of its HA nodes: another node has nothing to start; use shared storage (mailstack:proxmox.vmDatastore) or set mailstack:vm.ha.replication`,
            vm.urn,
          );
        }
      }
    }
  },
});

export const singleNode = stackRule(RULES.singleNode, {
  description: "A VM without Proxmox HA: losing its node stops mail until it is restored elsewhere.",
  remediationSteps:
    "Configure mailstack:vm.ha (two or more nodes, shared or replicated storage), or rehearse the node-loss drill (README, Backups).",
  validateStack: (args, report) => {
    for (const vm of args.resources.filter((r) => r.type === TYPES.vm)) {
      if (haResourcesOf(vm, args.resources).length > 0) continue;
      const node = knownString(() => unknownProps(vm).nodeName) ?? "its node";
      report(
        `VM ${vm.name} runs on ${node} only (no Proxmox HA): when ${node} is lost, mail is down until the node-loss drill restores it (README)`,
        vm.urn,
      );
    }
  },
});
