// Preview keys kept between runs of `npm run plan`. The plan generates real key material for every
// @pulumi/tls PrivateKey (plan/local-values.ts), so that TLSA hashes and DKIM records are real and
// checkable; at scale that is most of the plan's CPU time (an RSA-2048 DKIM key per hosted domain,
// ~0.17 s each; the mail TLS keys are RSA-4096, ~2 s each). The cache keeps each resource's preview
// key by project and stack, type, name and key spec, as the state keeps a real key between `pulumi up`s:
// a second plan shows the same keys, so two plans differ only where the config or the code did.
//
// These are preview keys: no deployment ever uses them (`pulumi up` generates its own through the
// tls provider), so they are not the stack's secrets; they are still private keys and stay in a
// directory only the user can read (0700, files 0600). MAILSTACK_PREVIEW_KEY_CACHE names another
// directory, or `off` for fresh keys every run.
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { LocalGenerator } from "./engine";
import { generateLocally, keySpecOf, specId, type Generated, type KeyPool, type KeySpec } from "./local-values";

/** The output properties every cached key must have (the rest depend on the algorithm). */
const REQUIRED = ["privateKeyPem", "privateKeyPemPkcs8", "publicKeyPem"] as const;

export const CACHE_ENV = "MAILSTACK_PREVIEW_KEY_CACHE";
export const PRIVATE_KEY_TYPE = "tls:index/privateKey:PrivateKey";

/** Which stack a key belongs to: project and stack, as a URN names them. */
export function stackKey(project: string, stack: string): string {
  return `${project}/${stack}`;
}

export interface KeyId {
  /** stackKey(project, stack). */
  readonly stack: string;
  readonly type: string;
  readonly name: string;
  readonly spec: KeySpec;
}

export class PreviewKeyCache {
  /** The first failure to store a key, reported once (a cache that cannot be written only costs time). */
  private writeError: string | undefined;
  /** Key-spec directories made (and the cache directory made private) by this instance. */
  private readonly prepared = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly warn: (message: string) => void = (message) => process.stderr.write(`${message}\n`),
  ) {}

  /** The cache the environment asks for: MAILSTACK_PREVIEW_KEY_CACHE, else $XDG_CACHE_HOME or ~/.cache. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): PreviewKeyCache | undefined {
    const setting = env[CACHE_ENV];
    if (setting === "off") return undefined;
    if (setting) return new PreviewKeyCache(setting);
    const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
    return new PreviewKeyCache(join(base, "mailstack", "preview-keys"));
  }

  private file(id: KeyId): string {
    const digest = createHash("sha256")
      .update([id.stack, id.type, id.name, specId(id.spec)].join("\0"))
      .digest("hex");
    return join(this.dir, specId(id.spec), `${digest}.json`);
  }

  /** The cached key, or undefined when there is none or it is unreadable (then it is generated again). */
  read(id: KeyId): Generated | undefined {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.file(id), "utf8"));
    } catch {
      return undefined; // missing, or a torn or foreign file: a new key replaces it
    }
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const values = parsed as Generated;
    return REQUIRED.every((key) => typeof values[key] === "string") ? values : undefined;
  }

  has(id: KeyId): boolean {
    return this.read(id) !== undefined;
  }

  write(id: KeyId, values: Generated): void {
    const file = this.file(id);
    const temporary = `${file}.${process.pid}.tmp`;
    try {
      const specDir = join(this.dir, specId(id.spec));
      if (!this.prepared.has(specDir)) {
        mkdirSync(specDir, { recursive: true, mode: 0o700 });
        chmodSync(this.dir, 0o700);
        this.prepared.add(specDir);
      }
      writeFileSync(temporary, JSON.stringify(values), { mode: 0o600 });
      renameSync(temporary, file); // readers never see half a key
    } catch (error) {
      if (this.writeError !== undefined) return;
      this.writeError = (error as NodeJS.ErrnoException).code ?? String(error);
      this.warn(
        `plan: cannot store preview keys in ${this.dir} (${this.writeError}); they are generated again next run. ` +
          `Set ${CACHE_ENV} to a writable directory, or to "off".`,
      );
    }
  }
}

/**
 * The plan's generator of local values: private keys from the cache when it holds them (else
 * generated, from the pool when it has one ready, and stored), everything else fresh.
 */
export function previewGenerator(stack: string, cache?: PreviewKeyCache, pool?: KeyPool): LocalGenerator {
  // `stack` is stackKey(project, stack).
  return async (type, name, inputs) => {
    if (cache === undefined || type !== PRIVATE_KEY_TYPE) return generateLocally(type, inputs, pool);
    const id = { stack, type, name, spec: keySpecOf(inputs) };
    const cached = cache.read(id);
    if (cached) return cached;
    const values = await generateLocally(type, inputs, pool);
    cache.write(id, values);
    return values;
  };
}
