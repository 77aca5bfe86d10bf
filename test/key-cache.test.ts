// Preview keys kept between plans (plan/key-cache.ts): a second plan shows the same keys, every
// resource keeps its own key, a key nobody can read back is generated again, the cache stays
// private, and the plan only generates ahead the keys the cache does not hold.
import { createPublicKey } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CACHE_ENV, PreviewKeyCache, PRIVATE_KEY_TYPE, previewGenerator, stackKey } from "../plan/key-cache";
import { keySpecOf } from "../plan/local-values";
import { expectedKeys, prewarmedPool } from "../plan/prewarm";
import { readStackConfig } from "../plan/stack-file";
import { planStack, root } from "./plans";

const work = mkdtempSync(join(tmpdir(), "mailstack-key-cache-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const RSA = { algorithm: "RSA", rsaBits: 2048 };
const ED25519 = { algorithm: "ED25519" };

function freshDir(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  return dir;
}

const files = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));

describe("preview key cache", () => {
  it("gives a resource the same key in the next run, and every other resource, stack, project or key size its own", async () => {
    const dir = freshDir("same");
    const first = previewGenerator("mailstack/prod", new PreviewKeyCache(dir));
    const again = previewGenerator("mailstack/prod", new PreviewKeyCache(dir)); // as a later run
    const key = await first(PRIVATE_KEY_TYPE, "dkim-key-example.org", RSA);
    expect(await again(PRIVATE_KEY_TYPE, "dkim-key-example.org", RSA)).toEqual(key);

    const others = await Promise.all([
      again(PRIVATE_KEY_TYPE, "dkim-key-example.net", RSA),
      previewGenerator("mailstack/staging", new PreviewKeyCache(dir))(PRIVATE_KEY_TYPE, "dkim-key-example.org", RSA),
      previewGenerator("other-project/prod", new PreviewKeyCache(dir))(PRIVATE_KEY_TYPE, "dkim-key-example.org", RSA),
      again(PRIVATE_KEY_TYPE, "dkim-key-example.org", { algorithm: "RSA", rsaBits: 3072 }),
    ]);
    const publicKeys = new Set([key, ...others].map((values) => values.publicKeyPem));
    expect(publicKeys.size).toBe(5);
    // The cached key is the key the provider would report: a 3072-bit key for rsaBits 3072.
    const resized = createPublicKey(String(others[3]?.publicKeyPem));
    expect(resized.asymmetricKeyDetails?.modulusLength).toBe(3072);
  });

  it("keeps the keys private to the user (directories 0700, files 0600)", async () => {
    const dir = freshDir("private");
    chmodSync(dir, 0o755);
    await previewGenerator("mailstack/prod", new PreviewKeyCache(dir))(PRIVATE_KEY_TYPE, "deploy-key", ED25519);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const [file] = files(dir);
    expect(file).toBeDefined();
    expect(statSync(String(file)).mode & 0o777).toBe(0o600);
  });

  it("generates a key again when its file is torn or foreign, and replaces the file", async () => {
    const dir = freshDir("torn");
    const generate = previewGenerator("mailstack/prod", new PreviewKeyCache(dir));
    const original = await generate(PRIVATE_KEY_TYPE, "mail-tls-key-a", ED25519);
    const [file] = files(dir);
    writeFileSync(String(file), '{"privateKeyPem": "-----BEGIN');
    const replaced = await previewGenerator("mailstack/prod", new PreviewKeyCache(dir))(
      PRIVATE_KEY_TYPE,
      "mail-tls-key-a",
      ED25519,
    );
    expect(replaced.publicKeyPem).not.toEqual(original.publicKeyPem);
    expect(() => createPublicKey(String(replaced.publicKeyPem))).not.toThrow();
    expect(
      new PreviewKeyCache(dir).read({
        stack: "mailstack/prod",
        type: PRIVATE_KEY_TYPE,
        name: "mail-tls-key-a",
        spec: keySpecOf(ED25519),
      }),
    ).toEqual(replaced);
  });

  it("still plans when the cache cannot be written, and says once which setting fixes it", async () => {
    const blocked = join(work, "a-file");
    writeFileSync(blocked, "not a directory");
    const warnings: string[] = [];
    const cache = new PreviewKeyCache(join(blocked, "keys"), (message) => warnings.push(message));
    const generate = previewGenerator("mailstack/prod", cache);
    const keys = await Promise.all(["one", "two"].map((name) => generate(PRIVATE_KEY_TYPE, name, ED25519)));
    expect(keys.every((values) => typeof values.privateKeyPem === "string")).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(CACHE_ENV);
    expect(warnings[0]).toContain(join(blocked, "keys"));
  });

  it("leaves random values fresh (only private keys are kept)", async () => {
    const dir = freshDir("random");
    const generate = previewGenerator("mailstack/prod", new PreviewKeyCache(dir));
    const type = "random:index/randomPassword:RandomPassword";
    const a = await generate(type, "password", { length: 32 });
    const b = await generate(type, "password", { length: 32 });
    expect(a.result).not.toEqual(b.result);
    expect(files(dir)).toEqual([]);
  });

  it("is where the environment says: a directory, off, or the user's cache", () => {
    expect(PreviewKeyCache.fromEnv({ [CACHE_ENV]: "off" })).toBeUndefined();
    expect(PreviewKeyCache.fromEnv({ [CACHE_ENV]: "/srv/keys" })?.dir).toBe("/srv/keys");
    expect(PreviewKeyCache.fromEnv({ XDG_CACHE_HOME: "/x" })?.dir).toBe("/x/mailstack/preview-keys");
    expect(PreviewKeyCache.fromEnv({ HOME: "/home/op" })?.dir).toBe("/home/op/.cache/mailstack/preview-keys");
  });
});

describe("keys generated ahead", () => {
  const stackConfig = readStackConfig(root, "prod");

  it("names exactly the private keys the program declares with their sizes (prod)", async () => {
    const { run } = await planStack({ dir: root, stack: "prod", stackConfig });
    const declared = run.resources
      .filter((r) => r.type === PRIVATE_KEY_TYPE && r.inputs.algorithm === "RSA")
      .map((r) => ({ name: r.name, rsaBits: r.inputs.rsaBits }));
    const expected = expectedKeys(stackConfig.values).map(({ name, spec }) => ({ name, rsaBits: spec.rsaBits }));
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect(expected.sort(byName)).toEqual(declared.sort(byName));
  });

  it("generates ahead only the keys the cache does not hold", async () => {
    const dir = freshDir("ahead");
    const cache = new PreviewKeyCache(dir);
    const expected = expectedKeys(stackConfig.values);
    const dkim = expected.filter((k) => k.name.startsWith("dkim-key-"));
    expect(dkim.length).toBeGreaterThan(0);
    const spec = dkim[0]?.spec ?? keySpecOf(RSA);
    expect(prewarmedPool(stackConfig.values, stackKey("mailstack", "prod"), cache).waiting(spec)).toBe(dkim.length);
    const generate = previewGenerator("mailstack/prod", cache);
    for (const { name, spec: keySpec } of dkim) await generate(PRIVATE_KEY_TYPE, name, { ...keySpec });
    expect(prewarmedPool(stackConfig.values, stackKey("mailstack", "prod"), cache).waiting(spec)).toBe(0);
    expect(prewarmedPool(stackConfig.values, stackKey("mailstack", "staging"), cache).waiting(spec)).toBe(dkim.length);
  });
});
