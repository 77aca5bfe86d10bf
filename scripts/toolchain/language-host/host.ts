// The pulumirpc.LanguageRuntime service for Node.js programs: mailstack's own implementation of
// the contract that pulumi/pulumi v3.248.0 defines in proto/pulumi/language.proto and implements
// in sdk/nodejs/cmd/pulumi-language-nodejs/main.go (read, not copied). The program itself runs in
// @pulumi/pulumi's own runner (cmd/run), resolved from the program's directory, with the arguments
// and environment upstream passes; policy packs run in cmd/run-policy-pack behind PolicyProxy.
// What this host leaves out (code generation, packing, linking, debugger attach, the synchronous
// invoke pipes) answers UNIMPLEMENTED or says so in its error.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import * as language from "@pulumi/pulumi/proto/language_pb";
import * as plugin from "@pulumi/pulumi/proto/plugin_pb";
import type { ILanguageRuntimeServer } from "@pulumi/pulumi/proto/language_grpc_pb";
import { incompatiblePulumiVersions, programDependencies, requiredPackages } from "./packages";
import { PolicyProxy } from "./policy-proxy";

/** The runner's exit code after it showed the user an actionable message (upstream: 32 → Bail). */
const EXIT_AFTER_USER_MESSAGE = 32;

export interface HostOptions {
  /** The engine's gRPC address (the first argument, or Handshake's). */
  engineAddress: string;
  readonly tracing?: string;
  readonly version: string;
  readonly log: (message: string) => void;
}

/** Runtime options from Pulumi.yaml `runtime.options` (upstream: parseOptions). */
interface NodeOptions {
  readonly typescript: boolean;
  readonly tsconfig?: string;
  readonly nodeargs: string[];
}

export class HostError extends Error {}

function nodeOptions(info: language.ProgramInfo | undefined): NodeOptions {
  const options = (info?.getOptions()?.toJavaScript() ?? {}) as Record<string, unknown>;
  const { typescript = true, tsconfig, nodeargs = "", packagemanager = "auto" } = options;
  if (typeof typescript !== "boolean") throw new HostError("typescript option must be a boolean");
  if (tsconfig !== undefined && typeof tsconfig !== "string")
    throw new HostError("tsconfigpath option must be a string");
  if (typeof nodeargs !== "string") throw new HostError("nodeargs option must be a string");
  if (typeof packagemanager !== "string" || !["auto", "npm", "yarn", "pnpm", "bun"].includes(packagemanager))
    throw new HostError(
      `packagemanager option must be one of auto, npm, yarn, pnpm or bun, got ${JSON.stringify(packagemanager)}`,
    );
  return { typescript, ...(tsconfig ? { tsconfig } : {}), nodeargs: splitWords(nodeargs) };
}

/** Splits a command line like a POSIX shell does for words and quotes (upstream uses shlex). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) word = (word ?? "") + line.charAt(++i);
      else word = (word ?? "") + c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= "";
    } else if (c === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line.charAt(++i);
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (quote) throw new HostError(`nodeargs: unclosed ${quote} in ${JSON.stringify(line)}`);
  if (word !== undefined) words.push(word);
  return words;
}

function typescriptEnv(options: NodeOptions): Record<string, string> {
  return {
    ...(options.typescript ? { PULUMI_NODEJS_TYPESCRIPT: "true" } : {}),
    ...(options.tsconfig ? { PULUMI_NODEJS_TSCONFIG_PATH: options.tsconfig } : {}),
  };
}

/** `<namespace>:<name>` (or the old `<namespace>:config:<name>`) as `<namespace>:config:<name>`. */
export function runnerConfigKey(key: string): string {
  const parts = key.split(":");
  if (parts.length === 2 && parts[0] && parts[1]) return `${parts[0]}:config:${parts[1]}`;
  if (parts.length === 3 && parts[1] === "config" && parts[0] && parts[2]) return key;
  throw new HostError(
    `could not parse ${key} as a configuration key (configuration keys should be of the form \`<namespace>:<name>\`)`,
  );
}

/** Resolves a module the way the program would (from its directory), with upstream's hint. */
function locate(module: string, programDirectory: string, isPlugin: boolean): string {
  try {
    return require.resolve(module, { paths: [programDirectory] });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND")
      throw new HostError(
        `It looks like the Pulumi SDK has not been installed. Have you run ${isPlugin ? `npm install in ${programDirectory}` : "pulumi install"}?`,
      );
    throw new HostError((error as Error).message);
  }
}

function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function envFromList(list: readonly string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const entry of list) {
    const at = entry.indexOf("=");
    if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return env;
}

function unimplemented(method: string) {
  return (_call: unknown, callback: grpc.sendUnaryData<never>) =>
    callback({ code: grpc.status.UNIMPLEMENTED, details: `method ${method} not implemented` });
}

function failWith(callback: grpc.sendUnaryData<never>, error: unknown): void {
  callback({
    code: error instanceof HostError ? grpc.status.INVALID_ARGUMENT : grpc.status.UNKNOWN,
    details: error instanceof Error ? error.message : String(error),
  });
}

/** Watches stderr for V8's out-of-memory report (upstream: oomSniffer). */
function sniffOutOfMemory(stream: NodeJS.ReadableStream | null): () => boolean {
  let seen = false;
  let tail = "";
  stream?.on("data", (chunk: Buffer) => {
    const text = tail + chunk.toString("utf8");
    if (text.includes("<--- Last few GCs --->")) seen = true;
    tail = text.slice(-64);
  });
  return () => seen;
}

const OOM_HINT =
  "Detected a possible out of memory error. Consider increasing the memory available to the nodejs process by setting the `nodeargs` runtime option in Pulumi.yaml to `nodeargs: --max-old-space-size=<size>` where `<size>` is the maximum memory in megabytes that can be allocated to nodejs.";

export function languageRuntime(host: HostOptions): ILanguageRuntimeServer {
  const running = new Set<ChildProcess>();
  const track = (child: ChildProcess) => {
    running.add(child);
    child.on("exit", () => running.delete(child));
  };

  return {
    handshake(call, callback) {
      host.engineAddress = call.request.getEngineAddress();
      callback(null, new language.LanguageHandshakeResponse());
    },

    getPluginInfo(_call, callback) {
      callback(null, new plugin.PluginInfo().setVersion(host.version));
    },

    getRequiredPlugins: unimplemented("GetRequiredPlugins"),

    getRequiredPackages(call, callback) {
      const dir = call.request.getInfo()?.getProgramDirectory();
      if (!dir) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: "GetRequiredPackages: no program directory" });
        return;
      }
      const scan = requiredPackages(dir);
      const mismatch = incompatiblePulumiVersions(scan.pulumiVersions);
      if (mismatch) process.stderr.write(mismatch);
      for (const problem of scan.problems) host.log(`GetRequiredPackages: ${problem}`);
      const response = new language.GetRequiredPackagesResponse();
      response.setPackagesList(
        scan.packages.map((found) => {
          const dependency = new plugin.PackageDependency()
            .setName(found.name)
            .setKind(found.kind)
            .setVersion(found.version)
            .setServer(found.server);
          if (found.parameterization)
            dependency.setParameterization(
              new plugin.PackageParameterization()
                .setName(found.parameterization.name)
                .setVersion(found.parameterization.version)
                .setValue(found.parameterization.value),
            );
          return dependency;
        }),
      );
      callback(null, response);
    },

    run(call, callback) {
      const request = call.request;
      const respond = (error = "", bail = false) =>
        callback(null, new language.RunResponse().setError(error).setBail(bail));
      const info = request.getInfo();
      const programDirectory = info?.getProgramDirectory() || request.getPwd();
      if (!host.engineAddress) {
        failWith(callback, new HostError("when debugging or running explicitly, must call Handshake before Run"));
        return;
      }
      if (request.getAttachDebugger()) {
        respond("this language host (mailstack's, scripts/toolchain/language-host) cannot attach a debugger");
        return;
      }
      let options: NodeOptions;
      let runner: string;
      let config: string;
      try {
        options = nodeOptions(info);
        runner = locate(
          process.env.PULUMI_LANGUAGE_NODEJS_RUN_PATH || "@pulumi/pulumi/cmd/run",
          programDirectory,
          false,
        );
        const entries = request
          .getConfigMap()
          .toArray()
          .map(([key, value]) => [runnerConfigKey(key), value]);
        config = JSON.stringify(Object.fromEntries(entries));
      } catch (error) {
        respond(error instanceof Error ? error.message : String(error));
        return;
      }
      // The runner's flags (cmd/run/index.ts). The engine's own monitor address is passed on: upstream
      // puts a forwarding proxy in between whose only addition is the "pulumi-runtime: nodejs" header
      // on RegisterResource; the engine falls back to the "grpc-node-js/" user agent that
      // @grpc/grpc-js sends (pkg/resource/deploy/source_eval.go, requestFromNodeJS). The proxy's
      // synchronous-invoke pipes (--sync) serve only the long-deprecated invokeSync.
      const flag = (name: string, value: string | undefined) => (value ? [`--${name}`, value] : []);
      const args = [
        ...options.nodeargs,
        runner,
        ...flag("monitor", request.getMonitorAddress()),
        ...flag("engine", host.engineAddress),
        ...flag("organization", request.getOrganization()),
        ...flag("project", request.getProject()),
        ...flag("root-directory", info?.getRootDirectory()),
        ...flag("stack", request.getStack()),
        ...flag("pwd", programDirectory),
        ...(request.getDryrun() ? ["--dry-run"] : []),
        ...flag("parallel", String(request.getParallel())),
        ...flag("tracing", host.tracing),
        info?.getEntryPoint() || request.getProgram() || ".",
        ...request.getArgsList(),
      ];
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PULUMI_CONFIG: config,
        PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(request.getConfigsecretkeysList()),
        ...typescriptEnv(options),
      };
      host.log(`Run: node ${args.join(" ")}`);
      const child = spawn(process.execPath, args, { env, stdio: ["ignore", "inherit", "pipe"] });
      track(child);
      child.stderr.pipe(process.stderr, { end: false });
      const outOfMemory = sniffOutOfMemory(child.stderr);
      let settled = false;
      const finish = (error = "", bail = false) => {
        if (settled) return;
        settled = true;
        respond(error, bail);
      };
      // The engine cancelling the call (or going away) stops the program.
      call.on("cancelled", () => child.kill("SIGINT"));
      child.on("error", (error) =>
        finish(`Problem executing program (could not run language executor): ${error.message}`),
      );
      child.on("close", (code, signal) => {
        if (code === 0) finish();
        else if (code === EXIT_AFTER_USER_MESSAGE) finish("", true);
        else if (code === null) finish(`Program exited unexpectedly: signal ${String(signal)}`);
        else finish(`Program exited with non-zero exit code: ${code}${outOfMemory() ? `. ${OOM_HINT}` : ""}`);
      });
    },

    runPlugin(call) {
      const request = call.request;
      const info = request.getInfo();
      const dir = info?.getProgramDirectory() ?? "";
      const analyzer = request.getKind() === "analyzer";
      const send = (what: "stdout" | "stderr", data: Buffer | string) => {
        if (call.writable) {
          const message = new language.RunPluginResponse();
          if (what === "stdout") message.setStdout(Buffer.from(data));
          else message.setStderr(Buffer.from(data));
          call.write(message);
        }
      };
      const fail = (message: string) => {
        if (call.writable) call.emit("error", { code: grpc.status.UNKNOWN, details: message });
      };
      let options: NodeOptions;
      let runner: string;
      try {
        if (request.getAttachDebugger())
          throw new HostError("this language host (mailstack's) cannot attach a debugger");
        options = nodeOptions(info);
        // Policy packs run in their own entry point (upstream keeps this for the old
        // pulumi-analyzer-policy shim); other plugins in run-plugin.
        runner = locate(
          analyzer
            ? "@pulumi/pulumi/cmd/run-policy-pack"
            : process.env.PULUMI_LANGUAGE_NODEJS_RUN_PATH || "@pulumi/pulumi/cmd/run-plugin",
          dir,
          true,
        );
      } catch (error) {
        fail((error as Error).message);
        return;
      }
      // A policy pack gets its directory last, any other plugin first (as upstream).
      const args = [
        ...options.nodeargs,
        runner,
        ...(analyzer ? [...request.getArgsList(), dir] : [dir, ...request.getArgsList()]),
      ];
      const baseEnv = { ...envFromList(request.getEnvList()), ...typescriptEnv(options) };

      const start = (env: NodeJS.ProcessEnv, onStdout: (child: ChildProcess) => void) => {
        host.log(`RunPlugin(${request.getKind()} ${request.getName()}): node ${args.join(" ")}`);
        // Policy packs start in their own directory (as they always have), other plugins in pwd.
        const child = spawn(process.execPath, args, {
          cwd: analyzer ? dir : request.getPwd() || undefined,
          env,
          stdio: ["ignore", "pipe", "pipe"],
        });
        track(child);
        call.on("cancelled", () => child.kill("SIGTERM"));
        child.stderr.on("data", (chunk: Buffer) => send("stderr", chunk));
        onStdout(child);
        child.on("error", (error) =>
          fail(`Problem executing plugin program (could not run language executor): ${error.message}`),
        );
        return child;
      };
      const end = (code: number | null, signal: NodeJS.Signals | null) => {
        if (code === 0) {
          if (call.writable) call.end();
        } else if (code === null) fail(`Program exited unexpectedly: signal ${String(signal)}`);
        else fail(`Program exited with non-zero exit code: ${code}`);
      };

      if (!analyzer) {
        const child = start(baseEnv, (c) => c.stdout?.on("data", (chunk: Buffer) => send("stdout", chunk)));
        child.on("close", end);
        return;
      }

      const proxy = new PolicyProxy();
      call.on("cancelled", () => proxy.stop());
      proxy.start().then(
        async (port) => {
          send("stdout", `${port}\n`);
          const configuration = await proxy.awaitConfiguration();
          const env: NodeJS.ProcessEnv = { ...baseEnv };
          if (configuration) {
            const put = (key: string, value: string) => {
              if (value) env[key] = value;
            };
            put("PULUMI_NODEJS_ORGANIZATION", configuration.organization);
            put("PULUMI_NODEJS_PROJECT", configuration.project);
            put("PULUMI_NODEJS_STACK", configuration.stack);
            put("PULUMI_NODEJS_DRY_RUN", String(configuration.dryRun));
            put("PULUMI_CONFIG", JSON.stringify(configuration.config));
          }
          const child = start(env, (c) => {
            // The pack's first line is its port; the rest is ordinary output.
            let pending = "";
            let attached = false;
            c.stdout?.on("data", (chunk: Buffer) => {
              if (attached) {
                send("stdout", chunk);
                return;
              }
              pending += chunk.toString("utf8");
              const newline = pending.indexOf("\n");
              if (newline < 0) return;
              attached = true;
              const line = pending.slice(0, newline).trim();
              const rest = pending.slice(newline + 1);
              if (rest) send("stdout", rest);
              const packPort = Number(line);
              if (!Number.isInteger(packPort) || packPort <= 0 || packPort > 65535) {
                proxy.fail(new Error(`could not read policy pack port: ${JSON.stringify(line)}`));
                c.kill("SIGTERM");
                return;
              }
              proxy.attach(packPort).catch((error: unknown) => {
                send("stderr", `${(error as Error).message}\n`);
                c.kill("SIGTERM");
              });
            });
          });
          child.on("close", (code, signal) => {
            proxy.fail(new Error(`the policy pack exited (${code === null ? String(signal) : `code ${code}`})`));
            proxy.stop();
            end(code, signal);
          });
        },
        (error: unknown) => fail(`could not start policy pack proxy: ${(error as Error).message}`),
      );
    },

    installDependencies(call) {
      // Dependencies come from `npm ci` at the project root (the README says so); installing them
      // again here would change the lock the project pins.
      const dir = call.request.getInfo()?.getProgramDirectory() ?? call.request.getDirectory();
      call.write(
        new language.InstallDependenciesResponse().setStdout(
          Buffer.from(`Dependencies of ${dir} are installed by npm ci at the project root: nothing to do.\n`),
        ),
      );
      call.end();
    },

    about(_call, callback) {
      const response = new language.AboutResponse()
        .setExecutable(which("node") ?? process.execPath)
        .setVersion(process.version);
      response.getMetadataMap().set("packagemanager", "npm");
      // As upstream: a package manager whose version cannot be read is no error.
      execFile("npm", ["--version"], { timeout: 30_000 }, (error, stdout) => {
        if (!error) response.getMetadataMap().set("packagemanagerVersion", stdout.trim());
        callback(null, response);
      });
    },

    getProgramDependencies(call, callback) {
      const dir = call.request.getInfo()?.getProgramDirectory() || call.request.getPwd();
      try {
        const response = new language.GetProgramDependenciesResponse();
        response.setDependenciesList(
          programDependencies(dir, call.request.getTransitivedependencies()).map((d) =>
            new language.DependencyInfo().setName(d.name).setVersion(d.version),
          ),
        );
        callback(null, response);
      } catch (error) {
        failWith(callback, new HostError(`failed to get node dependencies: ${(error as Error).message}`));
      }
    },

    cancel(_call, callback) {
      for (const child of running) child.kill("SIGINT");
      callback(null, new Empty());
    },

    runtimeOptionsPrompts: unimplemented("RuntimeOptionsPrompts"),
    template: unimplemented("Template"),
    generateProgram: unimplemented("GenerateProgram"),
    generateProject: unimplemented("GenerateProject"),
    generatePackage: unimplemented("GeneratePackage"),
    pack: unimplemented("Pack"),
    link: unimplemented("Link"),
  };
}
