#!/usr/bin/env bash
# Builds the Pulumi toolchain this project runs on from Go modules alone (the Go module proxy; no
# GitHub, no get.pulumi.com): the pulumi CLI and the provider plugins of the npm packages pinned
# in package.json, plus the Node.js language host and the launcher scripts that the CLI
# distribution carries. The language host is the project's own (scripts/toolchain/language-host/,
# run with node and tsx from this checkout's node_modules), because the Go module proxy refuses
# upstream's. The versions come from package.json, so a bump of an npm pin changes the toolchain.
#
#   scripts/pulumi-toolchain.sh [--allow-missing-providers]              build what is missing, print a summary (on stderr)
#   scripts/pulumi-toolchain.sh [--allow-missing-providers] --print-env  the same, then `export` lines on stdout
#   scripts/pulumi-toolchain.sh [--allow-missing-providers] --env-file   the same, then the path of a file to source
#   scripts/pulumi-toolchain.sh --dir        only print the toolchain directory for these pins
#
# Everything goes to ${MAILSTACK_TOOLCHAIN_CACHE:-~/.cache/mailstack/toolchain}/<key>/, where the
# key covers the pinned versions, the Go version, this script, scripts/toolchain/wrappers/ and
# revisions.tsv: bin/ (pulumi, the language host launcher, the other launchers), home/ (the
# PULUMI_HOME that holds the installed provider plugins), env, logs/. The Go module and build
# caches are shared by all keys under <cache>/go/ (override: MAILSTACK_TOOLCHAIN_GOMODCACHE,
# MAILSTACK_TOOLCHAIN_GOCACHE). A component that is already built is reused; one that failed is
# tried again on the next run. The launchers are installed on every run; the language host
# launcher runs the host of the checkout that ran this script (or of $MAILSTACK_ROOT).
#
# Go settings (GOPROXY, GONOSUMDB, GOFLAGS, GOTOOLCHAIN, default local) come from the environment;
# builds are -trimpath, CGO_ENABLED=0, -ldflags "-s -w -X <version variable>=<version>", one at a
# time. When a module cannot be had, it says which module and version was refused and builds the
# rest. Exit status: 0 complete; 3 only provider plugins are missing (the CLI, the language host
# and the launchers work: programs without those providers run), or 0 for that with
# --allow-missing-providers, which still prints the missing ones loudly; 1 the CLI or the
# language host is missing; 2 bad usage or pins.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
toolchain_src="${here}/toolchain"

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

mode=summary
allow_missing_providers=0
modes=0
for arg in "$@"; do
  case "${arg}" in
    --allow-missing-providers) allow_missing_providers=1 ;;
    --print-env) mode=print-env modes=$((modes + 1)) ;;
    --env-file) mode=env-file modes=$((modes + 1)) ;;
    --dir) mode=dir modes=$((modes + 1)) ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "pulumi-toolchain: unknown argument '${arg}'" >&2
      usage >&2
      exit 2
      ;;
  esac
done
if [[ ${modes} -gt 1 ]]; then
  echo "pulumi-toolchain: one of --print-env, --env-file and --dir at most" >&2
  exit 2
fi

log() { printf 'pulumi-toolchain: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 2
}

for tool in go node sha256sum; do
  command -v "${tool}" >/dev/null 2>&1 || die "'${tool}' is not on PATH"
done

# --- Pins -------------------------------------------------------------------------------------
# The npm packages whose versions decide the toolchain, read from package.json (exact pins only).
npm_packages=(
  "@pulumi/pulumi"
  "@pulumi/policy"
  "@pulumi/command"
  "@pulumi/random"
  "@pulumi/tls"
  "@muhlba91/pulumi-proxmoxve"
  "@pulumi/cloudflare"
)
declare -A pin=()
# shellcheck disable=SC2016 # JavaScript, not shell
while read -r name version; do
  pin["${name}"]="${version}"
done < <(node -e '
  const [file, ...names] = process.argv.slice(1);
  const pkg = require(file);
  const deps = { ...(pkg.devDependencies || {}), ...(pkg.dependencies || {}) };
  for (const name of names) {
    const v = deps[name];
    if (v === undefined) { console.error(`pulumi-toolchain: error: ${name} is not a dependency in ${file}`); process.exit(2); }
    const exact = String(v).replace(/^v/, "");
    if (!/^\d+\.\d+\.\d+$/.test(exact)) { console.error(`pulumi-toolchain: error: ${name} is pinned as "${v}" in ${file}; the toolchain needs an exact x.y.z pin`); process.exit(2); }
    console.log(name, exact);
  }' "${root}/package.json" "${npm_packages[@]}") || exit 2
for name in "${npm_packages[@]}"; do
  [[ -n "${pin[${name}]:-}" ]] || die "could not read the pin of ${name} from package.json"
done

# Where node_modules is installed, it has to agree with the pins (and names the plugins).
for name in "${npm_packages[@]}"; do
  installed="${root}/node_modules/${name}/package.json"
  [[ -f "${installed}" ]] || continue
  got="$(node -p 'String(require(process.argv[1]).version).replace(/^v/, "")' "${installed}")"
  [[ "${got}" == "${pin[${name}]}" ]] ||
    die "node_modules/${name} is ${got} but package.json pins ${pin[${name}]}: run npm ci first"
done

pulumi_version="${pin[@pulumi/pulumi]}"
major() { printf '%s' "${1%%.*}"; }

# Components built from Go modules, in this order (the language host is not one: see
# install_language_host). Fields (|-separated):
#   name | version | module path | package to build ("." = module root) | version variable for -X
#   | version value | how: direct or a wrapper template | npm package | plugin name
pv="${pulumi_version}"
components=(
  "pulumi|${pv}|github.com/pulumi/pulumi/pkg/v3|cmd/pulumi|github.com/pulumi/pulumi/sdk/v3/go/common/version.Version|v${pv}|direct|@pulumi/pulumi|"
)
add_provider() { # plugin-name npm-package module-path how
  local version="${pin[$2]}"
  components+=("pulumi-resource-$1|${version}|$3|cmd/pulumi-resource-$1|$3/pkg/version.Version|${version}|$4|$2|$1")
}
add_provider command "@pulumi/command" "github.com/pulumi/pulumi-command/provider" direct
add_provider random "@pulumi/random" "github.com/pulumi/pulumi-random/provider/v$(major "${pin[@pulumi/random]}")" pf-main
add_provider tls "@pulumi/tls" "github.com/pulumi/pulumi-tls/provider/v$(major "${pin[@pulumi/tls]}")" pf-main
# This module's path has no major-version suffix (its go.mod says so), unlike its v8 tags.
add_provider proxmoxve "@muhlba91/pulumi-proxmoxve" "github.com/muhlba91/pulumi-proxmoxve/provider" pf-muxer
add_provider cloudflare "@pulumi/cloudflare" "github.com/pulumi/pulumi-cloudflare/provider/v$(major "${pin[@pulumi/cloudflare]}")" pf-main

# The plugin name the npm package asks the engine for (package.json "pulumi.name") must be ours.
for entry in "${components[@]}"; do
  IFS='|' read -r _ _ _ _ _ _ _ npm plugin <<<"${entry}"
  installed="${root}/node_modules/${npm}/package.json"
  [[ -n "${plugin}" && -f "${installed}" ]] || continue
  want="$(node -p '(require(process.argv[1]).pulumi || {}).name || ""' "${installed}")"
  [[ -z "${want}" || "${want}" == "${plugin}" ]] ||
    die "${npm} asks for the plugin '${want}', but the toolchain builds '${plugin}'"
done

# --- Cache key --------------------------------------------------------------------------------
go_version="$(go env GOVERSION)"
key_input="$(
  printf 'go %s\n' "${go_version}"
  for name in "${npm_packages[@]}"; do printf '%s %s\n' "${name}" "${pin[${name}]}"; done
  sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1
  # What the Go builds depend on; the launchers and the language host are installed on every run.
  (cd "${toolchain_src}" && find wrappers revisions.tsv -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
)"
key="pulumi-${pulumi_version}-$(printf '%s' "${key_input}" | sha256sum | cut -c1-16)"
cache="${MAILSTACK_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/mailstack/toolchain}"
dir="${cache}/${key}"
if [[ "${mode}" == dir ]]; then
  printf '%s\n' "${dir}"
  exit 0
fi

mkdir -p "${dir}"/{bin,home,logs,state,src,out}
printf '%s\n' "${key_input}" >"${dir}/key.txt"
# One build at a time per toolchain directory.
if command -v flock >/dev/null 2>&1; then
  exec 9>"${dir}/.lock"
  flock 9
fi

export GOMODCACHE="${MAILSTACK_TOOLCHAIN_GOMODCACHE:-${cache}/go/mod}"
export GOCACHE="${MAILSTACK_TOOLCHAIN_GOCACHE:-${cache}/go/build}"
export GOFLAGS="${GOFLAGS:-} -modcacherw -buildvcs=false"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export CGO_ENABLED=0
export GO111MODULE=on
export GOWORK=off

# --- Helpers ----------------------------------------------------------------------------------
# Reads a field of the JSON object that `go mod download -json` printed.
json_field() { node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
    let o = {}; try { o = JSON.parse(s); } catch (e) { }
    process.stdout.write(String(o[process.argv[1]] || ""));
  });' "$1"; }

# The revision to ask the proxy for: revisions.tsv, else the tag v<version>.
query_for() { # component version
  local c v rev
  while IFS=$'\t' read -r c v rev _; do
    [[ -z "${c}" || "${c}" == \#* ]] && continue
    if [[ "${c}" == "$1" && "${v}" == "$2" ]]; then
      printf '%s' "${rev}"
      return
    fi
  done <"${toolchain_src}/revisions.tsv"
  printf 'v%s' "$2"
}

# Repeats a module's replace directives for our wrapper module, as `go mod edit` flags, one a line.
# A replace by a directory of the upstream repository is turned into the same module at the same
# release when that module is one of the repository's released siblings (prefix); any other one
# cannot be had from the module proxy and is printed as "LOCAL old => dir".
replace_flags() { # go.mod file, repository prefix, release version
  # shellcheck disable=SC2016 # JavaScript, not shell
  go mod edit -json "$1" | node -e '
    const [prefix, version] = process.argv.slice(1);
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      for (const r of JSON.parse(s).Replace || []) {
        const old = r.Old.Path + (r.Old.Version ? "@" + r.Old.Version : "");
        if (r.New.Version) console.log(`-replace=${old}=${r.New.Path}@${r.New.Version}`);
        else if (r.Old.Path.startsWith(prefix)) console.log(`-replace=${old}=${r.Old.Path}@${version}`);
        else console.log(`LOCAL ${old} => ${r.New.Path}`);
      }
    });' "$2" "$3"
}

# What went wrong, from a build log: the module versions that the proxy refused, else its last lines.
refusals() {
  local mods
  mods="$(grep -oE 'https?://[^ ]+/@v/[^ ]+\.(info|mod|zip)' "$1" |
    sed -E 's#^https?://[^/]+/##; s#/@v/#@#; s#\.(info|mod|zip)$##' | sort -u | paste -sd, - | sed 's/,/, /g')" || true
  if [[ -n "${mods}" ]]; then
    printf 'the Go module proxy refused %s ' "${mods}"
  else
    tail -n 5 "$1" | tr '\n\t' '  '
  fi
}

declare -A status=() elapsed=()

fail() { # component message
  status["$1"]="FAILED: $2"
  printf '%s\n' "$2" >"${dir}/state/$1.failed"
  log "$1: FAILED: $2"
}

# Builds one component into ${dir}/out/<name>. Returns non-zero (after fail) when it cannot.
build_component() { # entry
  local name version module pkg var value how npm plugin
  IFS='|' read -r name version module pkg var value how npm plugin <<<"$1"
  local logf="${dir}/logs/${name}.log" work="${dir}/src/${name}" query
  query="$(query_for "${name}" "${version}")"
  : >"${logf}"
  rm -rf "${work}"
  mkdir -p "${work}"
  log "${name} ${version}: module ${module}@${query}"

  # 1. The module itself (its zip, its go.mod).
  local info mod_version mod_dir mod_gomod err
  if ! info="$(cd "${work}" && go mod download -json "${module}@${query}" 2>>"${logf}")"; then
    err="$(printf '%s' "${info}" | json_field Error)"
    err="${err:-$(tail -n 3 "${logf}")}"
    err="${err#"${module}@${query}: "}" # the go command repeats the module
    err="${err//$'\t'/}"
    fail "${name}" "the Go module proxy refused ${module}@${query}: ${err//$'\n'/ }"
    return 1
  fi
  mod_version="$(printf '%s' "${info}" | json_field Version)"
  mod_dir="$(printf '%s' "${info}" | json_field Dir)"
  mod_gomod="$(printf '%s' "${info}" | json_field GoMod)"
  log "${name}: got ${module}@${mod_version}"

  # 2. Our own module that requires it and repeats its replace directives.
  local prefix flags=() line
  case "${module}" in
    github.com/pulumi/pulumi/*) prefix="github.com/pulumi/pulumi/" ;;
    *) prefix="$(printf '%s' "${module}" | cut -d/ -f1-3)/" ;;
  esac
  local release="v${version}"
  [[ "${prefix}" == "github.com/pulumi/pulumi/" ]] && release="v${pulumi_version}"
  while read -r line; do
    [[ -z "${line}" ]] && continue
    if [[ "${line}" == LOCAL* ]]; then
      fail "${name}" "${module}@${mod_version} replaces ${line#LOCAL } (a directory of its repository that is no module on the proxy), so it cannot be built from Go modules"
      return 1
    fi
    flags+=("${line}")
  done < <(replace_flags "${mod_gomod}" "${prefix}" "${release}")
  (
    cd "${work}"
    go mod init "mailstack.invalid/toolchain/${name}"
    go mod edit -require="${module}@${mod_version}" "${flags[@]}"
    if [[ "${prefix}" == "github.com/pulumi/pulumi/" ]]; then
      # pulumi/pulumi's modules are released together: build against exactly this release.
      local m
      for m in github.com/pulumi/pulumi/pkg/v3 github.com/pulumi/pulumi/sdk/v3; do
        [[ "${m}" == "${module}" ]] || go mod edit -require="${m}@v${pulumi_version}" -replace="${m}=${m}@v${pulumi_version}"
      done
    fi
  ) >>"${logf}" 2>&1 || {
    fail "${name}" "could not write the wrapper module (see ${logf})"
    return 1
  }

  # 3. What to build: the module's own command, or our main around its provider package.
  local target="${module}"
  [[ "${pkg}" != "." ]] && target="${module}/${pkg}"
  local cmd_dir="${mod_dir}"
  [[ "${pkg}" != "." ]] && cmd_dir="${mod_dir}/${pkg}"
  if [[ "${how}" != direct && -f "${cmd_dir}/schema-embed.json" ]]; then
    how=direct # the module carries the generated file: its own main builds as it is
  fi
  if [[ "${how}" != direct ]]; then
    local tmpl="${toolchain_src}/wrappers/${how}.go.tmpl"
    [[ -f "${tmpl}" ]] || die "no wrapper template ${tmpl}"
    sed -e "s|@MODULE@|${module}|g" -e "s|@NAME@|${plugin}|g" "${tmpl}" >"${work}/main.go"
    if [[ -f "${cmd_dir}/schema.json" ]]; then
      cp "${cmd_dir}/schema.json" "${work}/schema-embed.json"
    else
      # No schema in the module: generate it with the provider's tfgen command.
      log "${name}: no schema.json in the module; generating it with pulumi-tfgen-${plugin}"
      if ! (cd "${work}" && go get "${module}/cmd/pulumi-tfgen-${plugin}@${mod_version}" &&
        go run -ldflags "-X ${var}=${value}" "${module}/cmd/pulumi-tfgen-${plugin}" schema --out "${work}/gen") >>"${logf}" 2>&1; then
        fail "${name}" "generating the schema with ${module}/cmd/pulumi-tfgen-${plugin} failed: $(refusals "${logf}")(see ${logf})"
        return 1
      fi
      cp "${work}/gen/schema.json" "${work}/schema-embed.json"
    fi
    if [[ -f "${cmd_dir}/bridge-metadata.json" ]]; then
      cp "${cmd_dir}/bridge-metadata.json" "${work}/bridge-metadata.json"
    else
      : >"${work}/bridge-metadata.json"
    fi
    target="."
  fi

  # 4. Resolve the build list (go.sum is checked against the checksum database) and build.
  local tags=""
  [[ "${prefix}" == "github.com/pulumi/pulumi/" ]] && tags="osusergo,grpcnotrace" # as upstream's release builds
  if [[ "${target}" == "." ]]; then
    (cd "${work}" && go mod tidy) >>"${logf}" 2>&1 || {
      fail "${name}" "resolving the dependencies failed: $(refusals "${logf}")(see ${logf})"
      return 1
    }
  else
    (cd "${work}" && go get "${target}@${mod_version}") >>"${logf}" 2>&1 || {
      fail "${name}" "resolving the dependencies failed: $(refusals "${logf}")(see ${logf})"
      return 1
    }
  fi
  (cd "${work}" && go build -trimpath -tags "${tags}" -ldflags "-s -w -X ${var}=${value}" -o "${dir}/out/${name}.new" "${target}") >>"${logf}" 2>&1 || {
    fail "${name}" "go build of ${target} failed: $(refusals "${logf}")(see ${logf})"
    return 1
  }
  mv -f "${dir}/out/${name}.new" "${dir}/out/${name}"
  printf '%s %s\n' "${module}" "${mod_version}" >"${dir}/state/${name}.module"
}

pulumi_bin="${dir}/bin/pulumi"
run_pulumi() { PULUMI_HOME="${dir}/home" PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true "${pulumi_bin}" "$@"; }

# Puts a built component where it belongs: bin/ for the CLI and language host, PULUMI_HOME for
# the provider plugins (through `pulumi plugin install --file`, as a downloaded one would be).
install_component() { # entry
  local name version plugin
  IFS='|' read -r name version _ _ _ _ _ _ plugin <<<"$1"
  if [[ -z "${plugin}" ]]; then
    install -m 0755 "${dir}/out/${name}" "${dir}/bin/${name}" || {
      fail "${name}" "could not install ${dir}/bin/${name}"
      return 1
    }
    if [[ "${name}" == pulumi ]]; then
      local said
      said="$("${pulumi_bin}" version 2>&1)" || said="(it failed: ${said})"
      if [[ "${said}" != "v${pulumi_version}" ]]; then
        rm -f "${pulumi_bin}"
        fail "${name}" "the built CLI says its version is '${said}', not v${pulumi_version}"
        return 1
      fi
    fi
    rm -f "${dir}/out/${name}"
    return 0
  fi
  if [[ ! -x "${pulumi_bin}" ]]; then
    fail "${name}" "built, but not installed: there is no pulumi CLI to install it with"
    return 1
  fi
  if ! run_pulumi plugin install resource "${plugin}" "${version}" --file "${dir}/out/${name}" >>"${dir}/logs/${name}.log" 2>&1; then
    fail "${name}" "pulumi plugin install resource ${plugin} ${version} failed: $(tail -n 3 "${dir}/logs/${name}.log" | tr '\n' ' ')"
    return 1
  fi
  rm -f "${dir}/out/${name}"
}

installed_ok() { # entry
  local name version plugin
  IFS='|' read -r name version _ _ _ _ _ _ plugin <<<"$1"
  [[ -f "${dir}/state/${name}.ok" ]] || return 1
  if [[ -z "${plugin}" ]]; then
    [[ -x "${dir}/bin/${name}" ]]
  else
    [[ -x "${dir}/home/plugins/resource-${plugin}-v${version}/pulumi-resource-${plugin}" ]]
  fi
}

# --- Build ------------------------------------------------------------------------------------
log "toolchain ${dir}"
log "Go ${go_version}; GOMODCACHE=${GOMODCACHE} GOCACHE=${GOCACHE}"
total_start=${SECONDS}
for entry in "${components[@]}"; do
  IFS='|' read -r name version _ <<<"${entry}"
  if installed_ok "${entry}"; then
    status["${name}"]="ok (cached)"
    continue
  fi
  rm -f "${dir}/state/${name}.ok" "${dir}/state/${name}.failed"
  start=${SECONDS}
  if [[ -x "${dir}/out/${name}" && -f "${dir}/state/${name}.module" ]] || build_component "${entry}"; then
    if install_component "${entry}"; then
      elapsed["${name}"]=$((SECONDS - start))
      status["${name}"]="ok (built in ${elapsed[${name}]} s)"
      printf '%s\n' "${elapsed[${name}]}" >"${dir}/state/${name}.ok"
      log "${name} ${version}: ${status[${name}]}"
    fi
  fi
  elapsed["${name}"]=$((SECONDS - start))
  printf '%s\t%s\t%s\n' "${name}" "${elapsed[${name}]}" "${status[${name}]}" >>"${dir}/logs/times.tsv"
done

# --- The language host and the launchers ------------------------------------------------------
# The language host is mailstack's own (scripts/toolchain/language-host/main.ts, see its header),
# because the Go module proxy refuses upstream's module. Its launcher runs it from this checkout
# with node and tsx, so it needs this checkout's npm dependencies; it must answer --version with
# the SDK's version, as upstream's does.
lang_name=pulumi-language-nodejs
install_language_host() {
  local target="${dir}/bin/${lang_name}" logf="${dir}/logs/${lang_name}.log" module escaped said
  : >"${logf}"
  for module in tsx @grpc/grpc-js google-protobuf @pulumi/pulumi; do
    if [[ ! -f "${root}/node_modules/${module}/package.json" ]]; then
      fail "${lang_name}" "${root}/node_modules/${module} is missing: run npm ci in ${root}"
      return 1
    fi
  done
  escaped="$(printf '%s' "${root}" | sed 's/[&|\\]/\\&/g')"
  sed "s|@ROOT@|${escaped}|g" "${toolchain_src}/launchers/${lang_name}" >"${target}.new"
  chmod 0755 "${target}.new"
  mv -f "${target}.new" "${target}"
  if ! said="$(MAILSTACK_ROOT="${root}" "${target}" --version 2>>"${logf}")" || [[ "${said}" != "v${pulumi_version}" ]]; then
    fail "${lang_name}" "${target} --version said '${said}', not v${pulumi_version} (see ${logf})"
    return 1
  fi
  status["${lang_name}"]="ok (mailstack's own: ${root}/scripts/toolchain/language-host/main.ts)"
}
install_language_host || true

# The dynamic-provider plugin and the policy-pack analyzer (under both names; a fallback only,
# for engines that find no language host).
install -m 0755 "${toolchain_src}/launchers/pulumi-resource-pulumi-nodejs" "${dir}/bin/pulumi-resource-pulumi-nodejs"
install -m 0755 "${toolchain_src}/launchers/pulumi-analyzer-policy" "${dir}/bin/pulumi-analyzer-policy"
install -m 0755 "${toolchain_src}/launchers/pulumi-analyzer-policy" "${dir}/bin/pulumi-analyzer-policy-nodejs"

# Every provider plugin we installed must be what `pulumi plugin ls` reports.
plugin_ls_failed=""
if [[ -x "${pulumi_bin}" ]]; then
  listed="$(run_pulumi plugin ls 2>&1)" || {
    log "pulumi plugin ls failed: ${listed}"
    plugin_ls_failed="pulumi plugin ls failed: ${listed}"
  }
  for entry in "${components[@]}"; do
    IFS='|' read -r name version _ _ _ _ _ _ plugin <<<"${entry}"
    [[ -n "${plugin}" && "${status[${name}]}" == ok* ]] || continue
    if ! grep -Eq "^${plugin}[[:space:]]+resource[[:space:]]+${version//./\\.}([[:space:]]|$)" <<<"${listed}"; then
      fail "${name}" "installed, but pulumi plugin ls does not list resource ${plugin} ${version}"
      rm -f "${dir}/state/${name}.ok"
    fi
  done
fi

env_names=(PATH PULUMI_HOME PULUMI_SKIP_UPDATE_CHECK PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION PULUMI_DISABLE_REGISTRY_RESOLVE)
{
  printf '# Written by scripts/pulumi-toolchain.sh (%s): source this file.\n' "${key}"
  # shellcheck disable=SC2016 # ${PATH} is for the shell that sources the file
  printf 'export PATH=%q:"${PATH}"\n' "${dir}/bin"
  printf 'export PULUMI_HOME=%q\n' "${dir}/home"
  printf 'export PULUMI_SKIP_UPDATE_CHECK=true\n'
  printf 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
  printf 'export PULUMI_DISABLE_REGISTRY_RESOLVE=true\n'
} >"${dir}/env"

log "summary (${key}, $((SECONDS - total_start)) s):"
core_missing=()
providers_missing=()
for entry in "${components[@]}"; do
  IFS='|' read -r name version _ _ _ _ _ _ plugin <<<"${entry}"
  printf '  %-28s %-9s %s\n' "${name}" "${version}" "${status[${name}]}" >&2
  if [[ "${status[${name}]}" != ok* ]]; then
    if [[ -n "${plugin}" ]]; then providers_missing+=("${name} ${version}: ${status[${name}]#FAILED: }"); else core_missing+=("${name}"); fi
  fi
done
printf '  %-28s %-9s %s\n' "${lang_name}" "${pulumi_version}" "${status[${lang_name}]:-FAILED}" >&2
[[ "${status[${lang_name}]:-}" == ok* ]] || core_missing+=("${lang_name}")
printf '  %-28s %-9s %s\n' "launchers" "" "pulumi-resource-pulumi-nodejs, pulumi-analyzer-policy(-nodejs)" >&2
[[ -z "${plugin_ls_failed}" ]] || providers_missing+=("${plugin_ls_failed}")
log "env: ${dir}/env (variables: ${env_names[*]})"

case "${mode}" in
  print-env) cat "${dir}/env" ;;
  env-file) printf '%s\n' "${dir}/env" ;;
esac

if [[ ${#core_missing[@]} -gt 0 ]]; then
  log "INCOMPLETE: ${core_missing[*]} missing, so nothing can run on the real engine; see the FAILED lines above and ${dir}/logs/"
  exit 1
fi
if [[ ${#providers_missing[@]} -gt 0 ]]; then
  bar="================================================================================"
  {
    printf '%s\n' "${bar}"
    printf 'pulumi-toolchain: WARNING: %d of %d provider plugins are MISSING; programs that use them cannot\n' "${#providers_missing[@]}" "$((${#components[@]} - 1))"
    printf 'pulumi-toolchain: run here (pulumi preview/up of the mailstack program itself cannot):\n'
    for line in "${providers_missing[@]}"; do printf 'pulumi-toolchain:   - %s\n' "${line}"; done
    printf 'pulumi-toolchain: The CLI, the language host and the launchers work: the engine tests run.\n'
    printf 'pulumi-toolchain: README.md, "The real engine: what cannot run here", says why.\n'
    printf '%s\n' "${bar}"
  } >&2
  if [[ "${allow_missing_providers}" -eq 1 ]]; then
    log "--allow-missing-providers: exit 0 although provider plugins are missing"
    exit 0
  fi
  exit 3
fi
exit 0
