// `npm run bench [-- --domains 1,10,100 --runs 3]`: the offline planner measured, never asserted.
// Plans generated stacks (the prod example with N hosted domains of 2 mailboxes each, the policy
// pack included) in fresh processes, side by side with the floor (loading the planner), and prints
// wall time, peak RSS, resources and time per domain: round 1 with an empty preview key cache
// (cold: every key generated), the median of the later rounds with the keys cached (warm). The
// machine is shared: compare ratios of one run, not numbers of different runs.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse, stringify } from "yaml";

const root = resolve(__dirname, "..");

interface Sample {
  readonly seconds: number;
  /** CPU time (user + system): on a shared machine the steadier number. */
  readonly cpuSeconds: number;
  readonly rssMiB: number;
  readonly stdout: string;
}

/** Runs a command under /usr/bin/time and returns wall time, CPU time and peak RSS of the whole command. */
function measure(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Sample> {
  return new Promise((done, fail) => {
    const child = spawn("/usr/bin/time", ["-f", "%e %U %S %M", ...args], {
      cwd,
      env: { ...process.env, NODE_PATH: join(root, "node_modules"), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", fail);
    child.on("close", (code) => {
      const last = stderr.trim().split("\n").pop() ?? "";
      const [seconds, user, system, kib] = last.split(" ").map(Number);
      if (
        code !== 0 ||
        seconds === undefined ||
        user === undefined ||
        system === undefined ||
        kib === undefined ||
        Number.isNaN(kib)
      ) {
        fail(new Error(`${args.join(" ")} failed (${String(code)}):\n${stderr}`));
        return;
      }
      done({ seconds, cpuSeconds: user + system, rssMiB: kib / 1024, stdout });
    });
  });
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

/** A project directory whose stack `bench` is the prod example with `count` hosted domains. */
function benchProject(count: number): string {
  const dir = mkdtempSync(join(tmpdir(), `mailstack-bench-${count}-`));
  copyFileSync(join(root, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
  const prod = parse(readFileSync(join(root, "Pulumi.prod.yaml"), "utf8")) as { config: Record<string, unknown> };
  const [first] = prod.config["mailstack:domains"] as Record<string, unknown>[];
  const domains = [
    first,
    ...Array.from({ length: count - 1 }, (_, i) => ({
      name: `d${String(i + 1).padStart(4, "0")}.mailstack-bench.de`,
      zoneId: createHash("md5").update(`zone-${i}`).digest("hex"),
      quotaMiB: 10240,
      mailboxes: [
        { localPart: "info", quotaMiB: 2048 },
        { localPart: "office", quotaMiB: 2048 },
      ],
    })),
  ];
  writeFileSync(
    join(dir, "Pulumi.bench.yaml"),
    stringify(
      // The bench measures beyond the default limits (it is how they were chosen).
      {
        config: {
          ...prod.config,
          "mailstack:domains": domains,
          "mailstack:capacity": { domains: Math.max(count, 1), mailboxes: 2 * count + 10 },
        },
      },
      { lineWidth: 0 },
    ),
  );
  return dir;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { domains: { type: "string", default: "1,10,100,300,1000" }, runs: { type: "string", default: "3" } },
  });
  const counts = (values.domains ?? "").split(",").map(Number);
  const runs = Number(values.runs);
  if (counts.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(runs) || runs < 1) {
    process.stderr.write("usage: npm run bench -- [--domains 1,10,100] [--runs 3]\n");
    process.exit(2);
  }
  // As package.json's "plan" script runs the planner (a larger young generation: the SDK allocates
  // short-lived promises and Outputs by the million, and scavenges were a fifth of the CPU time).
  const node = [process.execPath, "--max-semi-space-size=64", "--require", "tsx/cjs"];
  const floor: Sample[] = [];
  const rows: { count: number; samples: Sample[] }[] = counts.map((count) => ({ count, samples: [] }));
  const projects = new Map(counts.map((count) => [count, benchProject(count)]));
  // The bench's own preview key cache (plan/key-cache.ts): empty at round 1, full after it.
  const keyCache = mkdtempSync(join(tmpdir(), "mailstack-bench-keys-"));
  try {
    // Side by side: every round measures the floor and each size once.
    for (let round = 0; round < runs; round++) {
      floor.push(await measure([...node, "-e", `require(${JSON.stringify(join(root, "plan", "run"))})`], root));
      for (const row of rows) {
        const dir = projects.get(row.count) ?? "";
        mkdirSync(join(dir, "out"), { recursive: true });
        const sample = await measure(
          [...node, join(root, "plan", "cli.ts"), "--stack", "bench", "--out", join(dir, "out", "bench")],
          dir,
          { MAILSTACK_PREVIEW_KEY_CACHE: keyCache },
        );
        row.samples.push(sample);
        // Progress on stderr: a long run that is stopped still leaves its measurements.
        process.stderr.write(
          `round ${round + 1}: ${row.count} domain(s): ${sample.seconds.toFixed(2)} s wall, ${sample.cpuSeconds.toFixed(2)} s CPU, ${sample.rssMiB.toFixed(0)} MiB (floor ${floor[round]?.seconds.toFixed(2) ?? "?"} s wall, ${floor[round]?.cpuSeconds.toFixed(2) ?? "?"} s CPU)\n`,
        );
      }
    }
  } finally {
    for (const dir of projects.values()) rmSync(dir, { recursive: true, force: true });
    rmSync(keyCache, { recursive: true, force: true });
  }
  const warmOf = (samples: readonly Sample[]) => (samples.length > 1 ? samples.slice(1) : samples);
  // The floor of the same rounds as the warm columns it is compared with.
  const warmFloor = warmOf(floor);
  const floorSeconds = median(warmFloor.map((s) => s.seconds));
  const floorCpu = median(warmFloor.map((s) => s.cpuSeconds));
  // Round 1 starts with an empty preview key cache (as a first plan on a fresh machine); the later
  // rounds find every key in it (as every later plan of the stack): both are shown.
  const lines = [
    `Offline plan, measured side by side (${new Date().toISOString().slice(0, 10)}): cold = round 1, empty preview key cache; warm = median of rounds 2–${runs} (${runs > 1 ? "keys cached" : "only one round: cold"}).`,
    "",
    "| hosted domains | resources | cold wall (s) | cold CPU (s) | cold peak RSS (MiB) | warm wall (s) | × floor | warm CPU (s) | × floor (CPU) | warm peak RSS (MiB) | warm CPU ms per domain above the floor |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    `| floor (loading the planner) | – | – | – | – | ${floorSeconds.toFixed(2)} | 1.0 | ${floorCpu.toFixed(2)} | 1.0 | ${median(warmFloor.map((s) => s.rssMiB)).toFixed(0)} | – |`,
    ...rows.map(({ count, samples }) => {
      const [cold] = samples;
      const warm = warmOf(samples);
      const seconds = median(warm.map((s) => s.seconds));
      const cpu = median(warm.map((s) => s.cpuSeconds));
      const resources = /^Resources: (\d+)/m.exec(samples[0]?.stdout ?? "")?.[1] ?? "?";
      return `| ${count} | ${resources} | ${cold?.seconds.toFixed(2) ?? "–"} | ${cold?.cpuSeconds.toFixed(2) ?? "–"} | ${cold?.rssMiB.toFixed(0) ?? "–"} | ${seconds.toFixed(2)} | ${(seconds / floorSeconds).toFixed(1)} | ${cpu.toFixed(2)} | ${(cpu / floorCpu).toFixed(1)} | ${median(warm.map((s) => s.rssMiB)).toFixed(0)} | ${(((cpu - floorCpu) * 1000) / count).toFixed(0)} |`;
    }),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
