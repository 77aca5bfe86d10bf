// verify as one self-contained JavaScript file (its npm dependencies included) for the scheduled
// verify host, which has Node.js but not this repository. esbuild bundles verify/cli.ts the same
// way every time, so the bundle (and the copy's trigger) changes only when the code does.
import { buildSync } from "esbuild";
import { join } from "node:path";

let cached: string | undefined;

export function verifyBundle(): string {
  if (cached === undefined) {
    const result = buildSync({
      entryPoints: [join(__dirname, "cli.ts")],
      absWorkingDir: join(__dirname, ".."),
      bundle: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      minify: true,
      legalComments: "eof",
      write: false,
      logLevel: "silent",
      banner: {
        js: "#!/usr/bin/env node\n// mailstack verify, bundled with its dependencies (verify/bundle.ts); licenses at the end.",
      },
    });
    const [file] = result.outputFiles;
    if (!file) throw new Error("esbuild produced no bundle of verify/cli.ts");
    cached = file.text;
  }
  return cached;
}
