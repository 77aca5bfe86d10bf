// The real Pulumi engine for tests: the CLI that scripts/pulumi-toolchain.sh built, on a
// scratch file backend (PULUMI_BACKEND_URL=file://…) with the passphrase secrets manager, no
// update checks, no plugin downloads. A missing toolchain fails the test with the command that
// builds it; it never skips. Commands run asynchronously (test/support/exec.ts).
import { randomBytes } from "node:crypto";
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parse, stringify } from "yaml";
import { run, type RunResult } from "./exec";

export const root = resolve(__dirname, "..", "..");
const script = join(root, "scripts", "pulumi-toolchain.sh");

export interface Toolchain {
  /** <cache>/<key>/ of the pins in package.json. */
  readonly dir: string;
  readonly bin: string;
  /** The PULUMI_HOME holding the installed provider plugins. */
  readonly home: string;
}

/** What the engine tests need from the toolchain (the providers are not: the tests use none). */
const NEEDED = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"];

let found: Promise<Toolchain> | undefined;

/** The built toolchain for this checkout's pins, or an error naming the command that builds it. */
export function toolchain(): Promise<Toolchain> {
  found ??= (async () => {
    // --dir only computes the directory from the pins (no build, no network).
    const where = await run(script, ["--dir"], { cwd: root });
    if (where.status !== 0) throw new Error(`${script} --dir failed:\n${where.stderr}`);
    const dir = where.stdout.trim();
    const bin = join(dir, "bin");
    const missing = NEEDED.filter((name) => {
      try {
        accessSync(join(bin, name), constants.X_OK);
        return false;
      } catch {
        return true;
      }
    });
    if (missing.length > 0)
      throw new Error(
        `the Pulumi toolchain is not built (missing in ${bin}: ${missing.join(", ")}); run scripts/pulumi-toolchain.sh --allow-missing-providers (npm test does; the first build takes about 20 minutes)`,
      );
    return { dir, bin, home: join(dir, "home") };
  })();
  return found;
}

export interface PulumiOptions {
  readonly cwd: string;
  readonly stack?: string;
  /** Written to stdin: how secret config values reach `pulumi config set --secret` (never argv). */
  readonly input?: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** A scratch backend and passphrase; the CLI runs against it. */
export class Engine {
  /** The passphrase of the stacks' secrets managers (a secret itself). */
  readonly passphrase = randomBytes(24).toString("base64url");
  readonly state: string;

  private constructor(
    readonly toolchain: Toolchain,
    readonly work: string,
  ) {
    this.state = join(work, "state");
    mkdirSync(this.state);
  }

  static async create(): Promise<Engine> {
    const found = await toolchain();
    return new Engine(found, mkdtempSync(join(tmpdir(), "mailstack-engine-")));
  }

  /**
   * A scratch project for the program in `source`: its Pulumi.yaml with `main` pointing at the
   * program there. The stack files (Pulumi.<stack>.yaml: salt, config) go to the scratch
   * directory, never into the source tree; the program runs where it is, with the project's
   * node_modules. Run the CLI in the returned directory.
   */
  project(source: string): string {
    const manifest = parse(readFileSync(join(source, "Pulumi.yaml"), "utf8")) as { main?: string };
    const dir = join(this.work, "projects", basename(source));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Pulumi.yaml"), stringify({ ...manifest, main: join(source, manifest.main ?? ".") }));
    return dir;
  }

  get backendUrl(): string {
    return `file://${this.state}`;
  }

  env(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: `${this.toolchain.bin}:${process.env.PATH ?? ""}`,
      PULUMI_HOME: this.toolchain.home,
      PULUMI_BACKEND_URL: this.backendUrl,
      PULUMI_CONFIG_PASSPHRASE: this.passphrase,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
      PULUMI_SKIP_CONFIRMATIONS: "true",
      // Our language host runs from this checkout (the launcher's default is the checkout that
      // installed it, which may be another one sharing the toolchain cache).
      MAILSTACK_ROOT: root,
      // `npm run check` type-checks the programs; ts-node here only transpiles (faster on a busy machine).
      PULUMI_NODEJS_TRANSPILE_ONLY: "true",
      NO_COLOR: "1",
      ...extra,
    };
  }

  /** Runs the pulumi CLI; never throws for a non-zero exit (see pulumiOk). */
  pulumi(args: readonly string[], options: PulumiOptions): Promise<RunResult> {
    return run(
      join(this.toolchain.bin, "pulumi"),
      [...args, ...(options.stack ? ["--stack", options.stack] : []), "--non-interactive", "--color", "never"],
      {
        cwd: options.cwd,
        env: this.env(options.env),
        ...(options.input !== undefined ? { input: options.input } : {}),
        // A hang catcher, not a measurement: a loaded 2-core machine takes minutes for an `up`.
        timeoutMs: 20 * 60_000,
      },
    );
  }

  /** Runs the pulumi CLI and returns stdout; throws with the command and its output on failure. */
  async pulumiOk(args: readonly string[], options: PulumiOptions): Promise<string> {
    const result = await this.pulumi(args, options);
    if (result.status !== 0)
      throw new Error(
        `pulumi ${args.join(" ")} (in ${options.cwd}${options.stack ? `, stack ${options.stack}` : ""}) failed with ${result.status === null ? `signal ${String(result.signal)}` : `exit ${result.status}`}:\n${result.stdout}\n${result.stderr}`,
      );
    return result.stdout;
  }

  /** `pulumi stack init` plus plain and secret config (secret values go through stdin). */
  async initStack(
    cwd: string,
    stack: string,
    config: Readonly<Record<string, string>>,
    secrets: Readonly<Record<string, string>> = {},
  ): Promise<void> {
    await this.pulumiOk(["stack", "init", stack, "--secrets-provider", "passphrase"], { cwd });
    await this.setConfig(cwd, stack, config, secrets);
  }

  async setConfig(
    cwd: string,
    stack: string,
    config: Readonly<Record<string, string>>,
    secrets: Readonly<Record<string, string>> = {},
  ): Promise<void> {
    // Values go through stdin: a PEM would read as flags on the command line. --plaintext: the
    // CLI refuses plain values that look like secrets to it (a key named like one).
    for (const [key, value] of Object.entries(config))
      await this.pulumiOk(["config", "set", "--plaintext", key], { cwd, stack, input: value });
    for (const [key, value] of Object.entries(secrets))
      await this.pulumiOk(["config", "set", "--secret", key], { cwd, stack, input: value });
  }

  /** The stack's state as `pulumi stack export` writes it (secrets stay encrypted). */
  async exportState(cwd: string, stack: string): Promise<{ text: string; deployment: Deployment }> {
    const text = await this.pulumiOk(["stack", "export"], { cwd, stack });
    return { text, deployment: (JSON.parse(text) as { deployment: Deployment }).deployment };
  }

  /** The stack's outputs; secrets are shown only when asked for. */
  async outputs(cwd: string, stack: string, showSecrets = false): Promise<Record<string, unknown>> {
    const text = await this.pulumiOk(["stack", "output", "--json", ...(showSecrets ? ["--show-secrets"] : [])], {
      cwd,
      stack,
    });
    return JSON.parse(text) as Record<string, unknown>;
  }

  dispose(): void {
    rmSync(this.work, { recursive: true, force: true });
  }
}

export interface StateResource {
  readonly urn: string;
  readonly type: string;
  readonly custom?: boolean;
  readonly id?: string;
  readonly parent?: string;
  readonly provider?: string;
  readonly inputs?: Record<string, unknown>;
  readonly outputs?: Record<string, unknown>;
  readonly additionalSecretOutputs?: string[];
}

export interface Deployment {
  readonly resources?: readonly StateResource[];
  readonly secrets_providers?: { readonly type: string };
}

/** Everything `pulumi` printed, for assertions about messages. */
export function printed(result: RunResult): string {
  return `${result.stdout}\n${result.stderr}`;
}
