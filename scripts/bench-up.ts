// `npm run bench:up [-- --domains 5,20,50 --latency 100 --concurrency 4]`: a first `pulumi up` of
// N hosted domains on the real engine (the toolchain of scripts/pulumi-toolchain.sh) against the
// fake mailcow API answering every request after `--latency` ms, measured, never asserted. The
// program (scripts/bench-up/index.ts) declares per domain what MailcowTenants declares in mailcow.
// Prints wall time, API requests and the most in flight per size, a least-squares line through
// the points (fixed cost + cost per domain) and what it gives for --extrapolate domains. One run
// per size: the machine is shared, so run it once and read the table, not a single number.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { loopbackCertificate } from "../test/fakes/https";
import { FakeMailcow } from "../test/fakes/mailcow";
import { Engine } from "../test/support/engine";

const root = resolve(__dirname, "..");
const PROJECT = "mailstack-bench-up";
const STACK = "bench";
const key = (name: string) => `${PROJECT}:${name}`;

const { values } = parseArgs({
  options: {
    domains: { type: "string", default: "5,20,50" },
    latency: { type: "string", default: "100" },
    concurrency: { type: "string", default: "4" },
    extrapolate: { type: "string", default: "1000" },
  },
});
const sizes = values.domains.split(",").map(Number);
const latencyMs = Number(values.latency);
const concurrency = Number(values.concurrency);
const target = Number(values.extrapolate);
if (sizes.some((n) => !Number.isInteger(n) || n < 1) || sizes.length < 2)
  throw new Error("--domains: at least two whole numbers ≥ 1, e.g. 5,20,50");
if (!(latencyMs >= 0) || !Number.isInteger(concurrency) || concurrency < 1 || !(target >= 1))
  throw new Error("--latency ≥ 0 (ms), --concurrency ≥ 1, --extrapolate ≥ 1");

interface Point {
  readonly domains: number;
  readonly resources: number;
  readonly seconds: number;
  readonly requests: number;
  readonly maxInFlight: number;
  /** The size of the stack's state after the up (the file backend rewrites it as the update goes). */
  readonly stateKiB: number;
}

async function firstUp(domains: number): Promise<Point> {
  const engine = await Engine.create();
  const certificate = await loopbackCertificate();
  const apiKey = `mailcow-${randomBytes(18).toString("hex")}`;
  const mailcow = new FakeMailcow(certificate, apiKey);
  await mailcow.api.start();
  try {
    mailcow.api.latencyMs = latencyMs;
    const dir = engine.project(join(root, "scripts", "bench-up"));
    const names = Array.from({ length: domains }, (_, i) => `d${String(i).padStart(4, "0")}.bench.example`);
    const dkim = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
      type: "pkcs1",
      format: "pem",
    });
    await engine.initStack(
      dir,
      STACK,
      {
        [key("mailcowEndpoint")]: mailcow.api.baseUrl,
        [key("mailcowCa")]: certificate.cert,
        [key("domains")]: JSON.stringify(names),
        [key("apiConcurrency")]: String(concurrency),
      },
      {
        [key("mailcowApiKey")]: apiKey,
        [key("mailboxPassword")]: `Pw-${randomBytes(18).toString("base64url")}.9`,
        [key("dkimPrivateKey")]: dkim.toString(),
      },
    );
    const before = mailcow.api.requests.length;
    const started = performance.now();
    // As a user runs it: the preview, then the update (the engine's default --parallel).
    await engine.pulumiOk(["up", "--yes"], { cwd: dir, stack: STACK });
    const seconds = (performance.now() - started) / 1000;
    const { text, deployment } = await engine.exportState(dir, STACK);
    const resources = (deployment.resources ?? []).filter((r) => r.type.startsWith("pulumi-nodejs:dynamic")).length;
    if (mailcow.domains.size !== domains) throw new Error(`${domains} domains: the fake has ${mailcow.domains.size}`);
    return {
      domains,
      resources,
      seconds,
      requests: mailcow.api.requests.length - before,
      maxInFlight: mailcow.api.maxInFlight,
      stateKiB: Buffer.byteLength(text) / 1024,
    };
  } finally {
    await mailcow.api.stop();
    engine.dispose();
  }
}

/** Least squares: seconds = fixed + perDomain × domains. */
function fit(points: readonly Point[]): { fixed: number; perDomain: number } {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.domains, 0) / n;
  const my = points.reduce((s, p) => s + p.seconds, 0) / n;
  const sxy = points.reduce((s, p) => s + (p.domains - mx) * (p.seconds - my), 0);
  const sxx = points.reduce((s, p) => s + (p.domains - mx) ** 2, 0);
  const perDomain = sxy / sxx;
  return { fixed: my - perDomain * mx, perDomain };
}

async function main(): Promise<void> {
  console.log(
    `first up against the fake mailcow API: latency ${latencyMs} ms per request, apiConcurrency ${concurrency}`,
  );
  const points: Point[] = [];
  for (const domains of sizes) {
    const point = await firstUp(domains);
    points.push(point);
    console.log(
      `  ${domains} domains: ${point.resources} resources, ${point.requests} requests, at most ${point.maxInFlight} in flight, state ${point.stateKiB.toFixed(0)} KiB, ${point.seconds.toFixed(1)} s`,
    );
  }
  const { fixed, perDomain } = fit(points);
  const requestsPerDomain = fit(points.map((p) => ({ ...p, seconds: p.requests }))).perDomain;
  const floor = (requestsPerDomain * latencyMs) / 1000 / concurrency;
  console.log("");
  console.log("| hosted domains | resources | API requests | most in flight | state (KiB) | wall time (s) |");
  console.log("| -------------: | --------: | -----------: | -------------: | ----------: | ------------: |");
  for (const p of points)
    console.log(
      `| ${p.domains} | ${p.resources} | ${p.requests} | ${p.maxInFlight} | ${p.stateKiB.toFixed(0)} | ${p.seconds.toFixed(1)} |`,
    );
  console.log("");
  console.log(
    `fit: ${fixed.toFixed(1)} s + ${perDomain.toFixed(2)} s per domain; ${requestsPerDomain.toFixed(1)} requests per domain, ` +
      `i.e. at least ${floor.toFixed(2)} s per domain at ${concurrency} in flight and ${latencyMs} ms each`,
  );
  const estimate = fixed + perDomain * target;
  console.log(`estimate for ${target} domains: ${estimate.toFixed(0)} s (${(estimate / 60).toFixed(1)} min)`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
