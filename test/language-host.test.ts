// mailstack's Node.js language host (scripts/toolchain/language-host) over gRPC, without an
// engine: the calls the engine makes before a run (plugin info, required packages, program
// dependencies), the ones it leaves out, and its argument handling. The runs themselves (Run,
// RunPlugin for the policy pack) are tested on the real engine in engine-stack.test.ts.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { LanguageRuntimeClient } from "@pulumi/pulumi/proto/language_grpc_pb";
import * as language from "@pulumi/pulumi/proto/language_pb";
import type { PackageDependency, PluginInfo } from "@pulumi/pulumi/proto/plugin_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runnerConfigKey, splitWords } from "../scripts/toolchain/language-host/host";
import { root } from "./support/engine";

let host: ChildProcess;
let client: LanguageRuntimeClient;
const work = mkdtempSync(join(tmpdir(), "mailstack-langhost-"));

beforeAll(async () => {
  host = spawn(
    process.execPath,
    ["--require", "tsx/cjs", join(root, "scripts", "toolchain", "language-host", "main.ts")],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    let err = "";
    host.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
    host.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = /^(\d+)\n/.exec(out);
      if (line) resolve(Number(line[1]));
    });
    host.on("exit", (code) => reject(new Error(`the language host exited with ${String(code)}: ${err}`)));
  });
  client = new LanguageRuntimeClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(() => {
  client?.close();
  host?.kill("SIGINT");
  rmSync(work, { recursive: true, force: true });
});

type Callback<Res> = (error: grpc.ServiceError | null, response: Res) => void;

/** One unary call as a promise: `unary((done) => client.method(request, done))`. */
function unary<Res>(call: (done: Callback<Res>) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => call((error, response) => (error ? reject(error) : resolve(response))));
}

/** The error a call fails with (undefined when it succeeds). */
function failure(promise: Promise<unknown>): Promise<grpc.ServiceError | undefined> {
  return promise.then(
    () => undefined,
    (error: grpc.ServiceError) => error,
  );
}

const info = (dir: string) =>
  new language.ProgramInfo().setRootDirectory(dir).setProgramDirectory(dir).setEntryPoint(".");

function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value));
}

const asPlain = (p: PackageDependency) => ({ name: p.getName(), kind: p.getKind(), version: p.getVersion() });

describe("the language host", () => {
  it("reports the version of the SDK whose contract it implements", async () => {
    const plugin = await unary<PluginInfo>((done) => client.getPluginInfo(new Empty(), done));
    expect(plugin.getVersion()).toBe("v3.248.0");
  });

  const requiredPackages = (dir: string) =>
    unary<language.GetRequiredPackagesResponse>((done) =>
      client.getRequiredPackages(new language.GetRequiredPackagesRequest().setInfo(info(dir)), done),
    ).then((response) => response.getPackagesList());
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);

  it("asks the engine for exactly the provider plugins the project pins", async () => {
    // The policy pack's dependencies are not the program's, and @pulumi/pulumi is no plugin.
    expect((await requiredPackages(root)).map(asPlain).sort(byName)).toEqual([
      { name: "cloudflare", kind: "resource", version: "v6.22.1" },
      { name: "command", kind: "resource", version: "v1.2.1" },
      { name: "proxmoxve", kind: "resource", version: "v8.6.0" },
      { name: "random", kind: "resource", version: "v4.21.2" },
      { name: "tls", kind: "resource", version: "v5.6.1" },
    ]);
  });

  it("finds plugins as upstream does: pulumi.name for third parties, not in policy packs or outside node_modules", async () => {
    const dir = join(work, "program");
    writeJson(join(dir, "node_modules", "@pulumi", "aws", "package.json"), {
      name: "@pulumi/aws",
      version: "7.1.0",
      pulumi: { resource: true },
    });
    writeJson(join(dir, "node_modules", "@acme", "thing", "package.json"), {
      name: "@acme/thing",
      version: "2.0.0",
      pulumi: { resource: true, name: "thing", version: "2.0.1", server: "https://example.org/plugins" },
    });
    writeJson(join(dir, "node_modules", "left-pad", "package.json"), { name: "left-pad", version: "1.3.0" });
    writeJson(join(dir, "pack", "PulumiPolicy.yaml"), {});
    writeJson(join(dir, "pack", "node_modules", "@pulumi", "gcp", "package.json"), {
      name: "@pulumi/gcp",
      version: "8.0.0",
      pulumi: { resource: true },
    });
    writeJson(join(dir, "src", "package.json"), {
      name: "@pulumi/not-installed",
      version: "1.0.0",
      pulumi: { resource: true },
    });
    const found = await requiredPackages(dir);
    expect(found.map(asPlain).sort(byName)).toEqual([
      { name: "aws", kind: "resource", version: "v7.1.0" },
      { name: "thing", kind: "resource", version: "v2.0.1" },
    ]);
    expect(found.find((p) => p.getName() === "thing")?.getServer()).toBe("https://example.org/plugins");
  });

  it("lists the program's npm dependencies from package-lock.json, direct or all", async () => {
    const dependencies = (transitive: boolean) =>
      unary<language.GetProgramDependenciesResponse>((done) =>
        client.getProgramDependencies(
          new language.GetProgramDependenciesRequest().setInfo(info(root)).setTransitivedependencies(transitive),
          done,
        ),
      ).then((response) => response.getDependenciesList().map((d) => `${d.getName()}@${d.getVersion()}`));
    const direct = await dependencies(false);
    expect(direct).toContain("@pulumi/pulumi@3.248.0");
    expect(direct).toContain("@pulumi/cloudflare@6.22.1");
    expect(direct.some((name) => name.startsWith("minimist@"))).toBe(false);
    const all = await dependencies(true);
    expect(all.some((name) => name.startsWith("minimist@"))).toBe(true);
  });

  it("refuses to run a program before the engine's address is known", async () => {
    const error = await failure(unary((done) => client.run(new language.RunRequest().setInfo(info(root)), done)));
    expect(error?.details).toMatch(/must call Handshake before Run/);
  });

  it("answers UNIMPLEMENTED for code generation, packing and linking", async () => {
    const calls = [
      unary((done) => client.generateProgram(new language.GenerateProgramRequest(), done)),
      unary((done) => client.pack(new language.PackRequest(), done)),
      unary((done) => client.link(new language.LinkRequest(), done)),
      unary((done) => client.getRequiredPlugins(new language.GetRequiredPluginsRequest(), done)),
    ];
    for (const call of calls) expect((await failure(call))?.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it("installs nothing (npm ci at the root does) and says so", async () => {
    const stream = client.installDependencies(new language.InstallDependenciesRequest().setInfo(info(root)));
    const said: string[] = [];
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (message: language.InstallDependenciesResponse) =>
        said.push(Buffer.from(message.getStdout_asU8()).toString()),
      );
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    expect(said.join("")).toMatch(/installed by npm ci at the project root/);
  });
});

describe("the language host's helpers", () => {
  it("splits nodeargs like a shell", () => {
    expect(splitWords(`--max-old-space-size=4096 --title "a b" 'c d' e\\ f`)).toEqual([
      "--max-old-space-size=4096",
      "--title",
      "a b",
      "c d",
      "e f",
    ]);
    expect(() => splitWords(`"open`)).toThrow(/unclosed/);
  });

  it("passes config keys to the runner in the <namespace>:config:<name> form", () => {
    expect(runnerConfigKey("mailstack:hostname")).toBe("mailstack:config:hostname");
    expect(runnerConfigKey("aws:config:region")).toBe("aws:config:region");
    expect(() => runnerConfigKey("a:b:c")).toThrow(/<namespace>:<name>/);
  });
});
