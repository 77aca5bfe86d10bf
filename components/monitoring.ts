// Monitoring: the files for the operator's Prometheus, Alertmanager and Grafana (shown in the plan
// under files/monitoring/), the Proxmox node's metric server toward the configured backend, and
// the PBS backup metrics on the node. The VM's exporters are a step of MailcowVm's bring-up.
//
// The metric server is bpg's proxmox_metrics_server (@muhlba91/pulumi-proxmoxve 8.6.0
// metrics.Server, bpg v0.112.0 fwprovider/cluster/metrics/resource_metrics_server.go): unlike
// storage.Pbs and backup.Job it is not in the bridge's resourceIDOverrides (muhlba91/pulumi-proxmoxve
// provider/resources.go, main 53937ed1), so its id is the framework's own computed string id and
// its create does not hit the ComputeID panic (/work/notes/pbs-proxmox-860.md); `name` and `type`
// force a replacement, and PVE refuses a second server of one name, hence delete-before-replace.
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { pveMonitoringDelete, pveMonitoringFiles, pveMonitoringScript } from "../render/monitoring-host";
import { showInPlan } from "./plan-files";

export interface MonitoringArgs {
  readonly stack: string;
  readonly mailHost: string;
  /** Files for the operator's monitoring (path below out/<stack>/ → content). */
  readonly files: readonly { readonly path: string; readonly content: string }[];
  /** The node's metric server, when a backend is configured. */
  readonly metricsServer?: {
    /** The server's id in Proxmox (cluster-wide, unique per stack). */
    readonly name: string;
    readonly type: "influxdb" | "graphite" | "opentelemetry";
    readonly server: string;
    readonly port: number;
    readonly protocol?: "udp" | "tcp" | "http" | "https";
    readonly path?: string;
    readonly bucket?: string;
    readonly organization?: string;
    readonly verifyCertificate: boolean;
    /** InfluxDB token (secret). */
    readonly token?: pulumi.Input<string>;
  };
  /** The PBS backup metrics on the Proxmox node (with a PBS backup and scrape networks). */
  readonly pveNode?: {
    readonly connection: command.types.input.remote.ConnectionArgs;
    readonly listenAddress: string;
    /** The node's name in the plan's files/<host>/ tree. */
    readonly planHost: string;
    readonly vmid: pulumi.Input<number>;
  };
}

export class Monitoring extends pulumi.ComponentResource {
  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "mailstack:monitoring:Monitoring",
      name,
      {
        stack: args.stack,
        mailHost: args.mailHost,
        metricsServer: args.metricsServer && { ...args.metricsServer, token: undefined },
        pveNode: args.pveNode && { listenAddress: args.pveNode.listenAddress },
      },
      opts,
    );
    const metrics = args.metricsServer;
    if (metrics) {
      const { type } = metrics;
      new proxmox.metrics.Server(
        `${name}-metrics-server`,
        {
          name: metrics.name,
          type,
          server: metrics.server,
          port: metrics.port,
          ...(type === "influxdb"
            ? {
                ...(metrics.protocol ? { influxDbProto: metrics.protocol } : {}),
                ...(metrics.bucket ? { influxBucket: metrics.bucket } : {}),
                ...(metrics.organization ? { influxOrganization: metrics.organization } : {}),
                ...(metrics.path ? { influxApiPathPrefix: metrics.path } : {}),
                ...(metrics.token ? { influxToken: pulumi.secret(metrics.token) } : {}),
                influxVerify: metrics.verifyCertificate,
              }
            : {}),
          ...(type === "graphite"
            ? {
                ...(metrics.protocol ? { graphiteProto: metrics.protocol } : {}),
                ...(metrics.path ? { graphitePath: metrics.path } : {}),
              }
            : {}),
          ...(type === "opentelemetry"
            ? {
                ...(metrics.protocol ? { opentelemetryProto: metrics.protocol } : {}),
                ...(metrics.path ? { opentelemetryPath: metrics.path } : {}),
                opentelemetryVerifySsl: metrics.verifyCertificate,
              }
            : {}),
        },
        { parent: this, deleteBeforeReplace: true },
      );
    }

    const node = args.pveNode;
    if (node) {
      const input = pulumi.output(node.vmid).apply((vmid) => ({
        stack: args.stack,
        mailHost: args.mailHost,
        vmid,
        listenAddress: node.listenAddress,
      }));
      // No triggers: a new script is an update, which runs `create` again (pulumi-command v1.2.1
      // provider/pkg/provider/remote/commandController.go:63-81); a replacement would run the old
      // delete after the new create and remove what it installed.
      new command.remote.Command(
        `${name}-pve-backup-metrics`,
        {
          connection: node.connection,
          create: "bash -s",
          stdin: input.apply(pveMonitoringScript),
          delete: pveMonitoringDelete(args.stack),
          logging: "stdoutAndStderr",
        },
        { parent: this },
      );
      showInPlan(
        input.apply((values) =>
          pveMonitoringFiles(values).map((file) => ({
            path: `files/${node.planHost}/${file.path.replace(/^\/+/, "")}`,
            content: file.content,
          })),
        ),
      );
    }

    showInPlan(args.files.map((file) => ({ path: file.path, content: file.content })));
    this.registerOutputs({});
  }
}
