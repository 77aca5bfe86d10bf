// Proxmox's own HA for the mail VM (config vm.ha): the HA resource, the node-affinity rule and, with
// vm.ha.replication, the ZFS replication job to another HA node. Children of MailcowVm.
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import * as pulumi from "@pulumi/pulumi";

export interface ProxmoxHaInput {
  readonly ha: {
    readonly nodes: Readonly<Record<string, number>>;
    readonly maxRestart: number;
    readonly maxRelocate: number;
    /** ZFS replication of the VM's disks to another HA node (config vm.ha.replication). */
    readonly replication?: { readonly target: string; readonly schedule: string; readonly rateMBps?: number };
  };
  /** The affinity rule's cluster-wide name (render/proxmox.ts clusterNames). */
  readonly rule: string;
  readonly environment: string;
  /** The VM's name in Proxmox (vm.name), for the job's comment. */
  readonly vmName: string;
}

/** The HA resources of `vm`, named `<name>-ha`, `<name>-ha-nodes` and `<name>-replication`. */
export function proxmoxHa(name: string, parent: pulumi.Resource, vm: proxmox.VmLegacy, input: ProxmoxHaInput): void {
  const { ha } = input;
  const resourceId = pulumi.interpolate`vm:${vm.vmId}`;
  // bpg updates an HA resource in place on a new resource_id, editing the old VM's entry
  // (fwprovider/cluster/ha/resource_haresource.go): a new VM id must make a new HA resource.
  const haResource = new proxmox.Haresource(
    `${name}-ha`,
    { resourceId, state: "started", maxRestart: ha.maxRestart, maxRelocate: ha.maxRelocate },
    { parent, replaceOnChanges: ["resourceId"], deleteBeforeReplace: true },
  );
  new proxmox.Harule(
    `${name}-ha-nodes`,
    { rule: input.rule, type: "node-affinity", resources: [resourceId], nodes: { ...ha.nodes }, strict: false },
    { parent, dependsOn: [haResource] },
  );
  const replication = ha.replication;
  if (!replication) return;
  // A PVE replication job `<vmid>-0` of type local (pve-guest-common ReplicationConfig.pm: one job
  // per guest and target). bpg replaces the job on a new id, target or type (v0.111.1
  // fwprovider/cluster/replication/resource.go, RequiresReplace), so a new VM id makes a new job.
  // After HA relocates the VM, PVE turns the job around itself (the old node becomes the target,
  // ReplicationConfig.pm switch_replication_job_target_nolock): the target is left as PVE keeps
  // it, or a refresh would replace the job back.
  new proxmox.Replication(
    `${name}-replication`,
    {
      resourceId: pulumi.interpolate`${vm.vmId}-0`,
      type: "local",
      target: replication.target,
      schedule: replication.schedule,
      ...(replication.rateMBps !== undefined ? { rate: replication.rateMBps } : {}),
      disable: false,
      comment: `mailstack ${input.environment}: ${input.vmName} to ${replication.target}`,
    },
    { parent, dependsOn: [vm], deleteBeforeReplace: true, ignoreChanges: ["target"] },
  );
}
