// pulumi-language-nodejs: mailstack's own Node.js language host for the Pulumi engine, used
// because the Go module proxy here refuses upstream's (see README, "What cannot run here").
// The launcher scripts/toolchain/launchers/pulumi-language-nodejs runs this file with node and tsx.
//
// Started by the engine as `pulumi-language-nodejs [--logtostderr] [-v=N] [--tracing URL]
// <engine address>` (pulumi/pulumi v3.248.0, sdk/go/common/resource/plugin/plugin.go,
// buildPluginArguments and langruntime_plugin.go, NewLanguageRuntime), in the program's
// directory. It serves pulumirpc.LanguageRuntime on loopback, prints the port as its first line
// of stdout, checks every 5 minutes that the engine is still there and leaves when it is not
// (rpcutil.Healthcheck), and ends on SIGINT, which the engine sends to the plugin's process group
// when it is done (cmdutil.InterruptChildren).
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { LanguageRuntimeService } from "@pulumi/pulumi/proto/language_grpc_pb";
import { languageRuntime, type HostOptions } from "./host";

/** Upstream reports the version it was built as; ours implements the contract of the SDK it runs with. */
function sdkVersion(): string {
  const file = require.resolve("@pulumi/pulumi/package.json");
  const { version = "" } = JSON.parse(readFileSync(file, "utf8")) as { version?: string };
  return version.startsWith("v") ? version : `v${version}`;
}

interface Arguments {
  readonly engineAddress: string;
  readonly tracing?: string;
  readonly verbose: number;
  readonly logToStderr: boolean;
  readonly version: boolean;
}

/** Go's flag syntax: -name, --name, -name=value, -name value; flags end at the first non-flag. */
function parseArguments(argv: readonly string[]): Arguments {
  let tracing: string | undefined;
  let verbose = 0;
  let logToStderr = false;
  let version = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") {
      i++;
      break;
    }
    const match = /^--?([A-Za-z][\w-]*)(?:=(.*))?$/.exec(arg);
    if (!match) break;
    const [, name, inline] = match;
    const value = () => inline ?? argv[++i] ?? "";
    switch (name) {
      case "tracing":
        tracing = value() || undefined;
        break;
      case "v":
        verbose = Number(value()) || 0;
        break;
      case "logtostderr":
        logToStderr = inline === undefined || inline === "true";
        break;
      case "version":
        version = true;
        break;
      case "runtime":
        if (value() !== "nodejs") throw new Error(`unsupported runtime: ${argv[i] ?? ""} (this host runs nodejs)`);
        break;
      case "logflow":
      case "alsologtostderr":
        break;
      default:
        throw new Error(`flag provided but not defined: -${name}`);
    }
  }
  return {
    engineAddress: argv[i] ?? "",
    ...(tracing ? { tracing } : {}),
    verbose,
    logToStderr,
    version,
  };
}

/** Polls the engine's health service; UNIMPLEMENTED counts as alive (as upstream). */
function watchEngine(address: string, onGone: () => void): void {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const raw = (value: Buffer) => value;
  const timer = setInterval(() => {
    // grpc.health.v1.HealthCheckRequest{} encodes as no bytes.
    client.makeUnaryRequest("/grpc.health.v1.Health/Check", raw, raw, Buffer.alloc(0), (error) => {
      if (error && error.code !== grpc.status.UNIMPLEMENTED) onGone();
    });
  }, 5 * 60_000);
  timer.unref();
}

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  const version = sdkVersion();
  if (args.version) {
    process.stdout.write(`${version}\n`);
    return;
  }
  const verbose = args.logToStderr && args.verbose >= 5;
  const options: HostOptions = {
    engineAddress: args.engineAddress,
    ...(args.tracing ? { tracing: args.tracing } : {}),
    version,
    // The engine shows the host's stderr to the user: only with -v=5 and --logtostderr.
    log: (message) => {
      if (verbose) process.stderr.write(`pulumi-language-nodejs: ${message}\n`);
    },
  };
  const server = new grpc.Server({
    // As the Pulumi SDK's own servers: messages carry whole resource states.
    "grpc.max_receive_message_length": 400 * 1024 * 1024,
  });
  server.addService(LanguageRuntimeService, languageRuntime(options));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const stop = () => {
    server.forceShutdown();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  if (args.engineAddress) {
    watchEngine(args.engineAddress, () => {
      options.log("the engine is gone; stopping");
      stop();
    });
  }
  process.stdout.write(`${port}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`pulumi-language-nodejs: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
