// What a Node.js program needs, as the language host reports it to the engine: the provider
// plugins its node_modules declare (GetRequiredPackages) and its npm dependencies
// (GetProgramDependencies). Behaviour follows pulumi/pulumi v3.248.0,
// sdk/nodejs/cmd/pulumi-language-nodejs/main.go (getPackagesFromDir, getPackageInfo,
// getPluginName, getPluginVersion) and sdk/nodejs/npm/manager.go (listPackagesFromLockFile).
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

export interface RequiredPackage {
  readonly name: string;
  readonly kind: "resource";
  /** "v<semver>", as upstream reports it. */
  readonly version: string;
  readonly server: string;
  readonly parameterization?: { readonly name: string; readonly version: string; readonly value: Buffer };
}

export interface Dependency {
  readonly name: string;
  readonly version: string;
}

/** The parts of a package.json the engine cares about (upstream: packageJSON, plugin.PulumiPluginJSON). */
interface PackageJson {
  readonly name?: string;
  readonly version?: string;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly devDependencies?: Readonly<Record<string, string>>;
  readonly pulumi?: {
    readonly resource?: boolean;
    readonly name?: string;
    readonly version?: string;
    readonly server?: string;
    /** value: bytes, base64 in JSON (Go's []byte). */
    readonly parameterization?: { readonly name?: string; readonly version?: string; readonly value?: string };
  };
}

function readJson(path: string): PackageJson {
  return JSON.parse(readFileSync(path, "utf8")) as PackageJson;
}

/** A directory that holds a policy pack (upstream: workspace.DetectPolicyPackPathAt). */
function isPolicyPack(dir: string): boolean {
  return existsSync(join(dir, "PulumiPolicy.yaml")) || existsSync(join(dir, "PulumiPolicy.yml"));
}

/** The plugin a package.json declares, or undefined when it declares none (upstream: getPackageInfo). */
export function pluginOf(info: PackageJson, where: string): RequiredPackage | undefined {
  if (info.pulumi?.resource !== true) return undefined;
  let name = info.pulumi.name;
  if (!name) {
    if (!info.name) throw new Error(`${where}: missing expected "name" property`);
    // Only @pulumi/ packages may leave the plugin name to their package name.
    if (!info.name.startsWith("@pulumi/"))
      throw new Error(
        `${where}: missing property "name" for the third-party plugin '${info.name}' inside package.json under the "pulumi" section.`,
      );
    name = info.name.slice("@pulumi/".length);
  }
  const version = info.pulumi.version || info.version;
  if (!version) throw new Error(`${where}: missing expected "version" property`);
  const parameterization = info.pulumi.parameterization;
  return {
    name,
    kind: "resource",
    version: version.startsWith("v") ? version : `v${version}`,
    server: info.pulumi.server ?? "",
    ...(parameterization
      ? {
          parameterization: {
            name: parameterization.name ?? "",
            version: parameterization.version ?? "",
            value: Buffer.from(parameterization.value ?? "", "base64"),
          },
        }
      : {}),
  };
}

export interface PackageScan {
  readonly packages: RequiredPackage[];
  /** Problems met on the way (upstream logs them and still returns what it found). */
  readonly problems: string[];
  /** Paths of the @pulumi/pulumi copies found, by version. */
  readonly pulumiVersions: Map<string, string>;
}

/**
 * Every plugin declared by a package.json inside a node_modules tree below `dir`. Like upstream
 * it descends into every directory (following symlinks once), but not into policy packs: their
 * plugins are not the program's.
 */
export function requiredPackages(dir: string): PackageScan {
  const scan: PackageScan = { packages: [], problems: [], pulumiVersions: new Map() };
  const visited = new Set<string>();
  const walk = (current: string, inNodeModules: boolean) => {
    let real: string;
    try {
      real = realpathSync(current);
    } catch (error) {
      scan.problems.push(`resolving ${current}: ${(error as Error).message}`);
      return;
    }
    if (visited.has(real)) return;
    visited.add(real);
    let entries;
    try {
      entries = readdirSync(real, { withFileTypes: true });
    } catch (error) {
      scan.problems.push(`reading plugin dir ${real}: ${(error as Error).message}`);
      return;
    }
    for (const entry of entries) {
      const path = join(real, entry.name);
      let isDir = entry.isDirectory();
      if (entry.isSymbolicLink()) {
        try {
          isDir = statSync(path).isDirectory();
        } catch (error) {
          scan.problems.push(`resolving link in plugin dir ${path}: ${(error as Error).message}`);
          continue;
        }
      }
      if (isDir) {
        if (isPolicyPack(path)) continue;
        walk(path, inNodeModules || basename(real) === "node_modules");
      } else if (inNodeModules && entry.name === "package.json") {
        try {
          const info = readJson(path);
          if (info.name === "@pulumi/pulumi" && info.version) scan.pulumiVersions.set(path, info.version);
          const plugin = pluginOf(info, path);
          if (plugin) scan.packages.push(plugin);
        } catch (error) {
          scan.problems.push(`package.json ${path}: ${(error as Error).message}`);
        }
      }
    }
  };
  walk(resolve(dir), false);
  return scan;
}

/** Major versions of @pulumi/pulumi that cannot share a process (upstream: compatibleVersions, for >= 1.x). */
export function incompatiblePulumiVersions(versions: ReadonlyMap<string, string>): string | undefined {
  const entries = [...versions.entries()];
  const first = entries[0];
  if (!first) return undefined;
  const major = (version: string) => Number(version.replace(/^v/, "").split(".")[0]);
  for (const [path, version] of entries.slice(1)) {
    if (major(version) !== major(first[1]))
      return `Found incompatible versions of @pulumi/pulumi. Differing major versions are not supported.\n  Version ${first[1]} referenced at ${first[0]}\n  Version ${version} referenced at ${path}\n`;
  }
  return undefined;
}

function searchUp(start: string, file: string): string | undefined {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (existsSync(join(dir, file))) return join(dir, file);
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The npm packages of a program, from the package-lock.json found upwards from `dir`: all of
 * them, or only those its package.json declares (upstream: listPackagesFromLockFile with npm).
 */
export function programDependencies(dir: string, transitive: boolean): Dependency[] {
  const lockFile = searchUp(dir, "package-lock.json");
  if (!lockFile) throw new Error(`no package-lock.json found (searching upwards from ${dir})`);
  const lock = JSON.parse(readFileSync(lockFile, "utf8")) as {
    packages?: Record<string, { version?: string; link?: boolean }>;
  };
  if (!lock.packages) throw new Error(`could not parse ${lockFile}: no "packages" (lockfileVersion 2 or later)`);
  const seen = new Set<string>();
  const all: Dependency[] = [];
  for (const [key, entry] of Object.entries(lock.packages)) {
    const at = key.lastIndexOf("node_modules/");
    if (at < 0 || !entry.version || entry.link) continue;
    const name = key.slice(at + "node_modules/".length);
    const id = `${name}@${entry.version}`;
    if (seen.has(id)) continue;
    seen.add(id);
    all.push({ name, version: entry.version });
  }
  if (transitive) return all;
  const manifest = join(dirname(lockFile), "package.json");
  if (!existsSync(manifest)) throw new Error(`could not find package.json in ${dirname(lockFile)}`);
  const declared = readJson(manifest);
  const direct = new Set([...Object.keys(declared.dependencies ?? {}), ...Object.keys(declared.devDependencies ?? {})]);
  // The top-level copy of each: the one a direct dependency resolves to.
  return Object.entries(lock.packages)
    .filter(([key]) => key.startsWith("node_modules/") && direct.has(key.slice("node_modules/".length)))
    .map(([key, entry]) => ({ name: key.slice("node_modules/".length), version: entry.version ?? "" }));
}
