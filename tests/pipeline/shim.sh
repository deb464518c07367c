#!/usr/bin/env bash
# A recording stand-in for a tool a generated pipeline calls, for running the pipelines
# on a machine without a cluster (tests/pipelines_run.rs). The harness puts a
# two-line script per tool (kubectl, kubectl-argo-rollouts, nginx, envoy, systemctl,
# curl, cargo, sleep, git) into a folder first on PATH, each running
#   PIPELINE_SHIM_TOOL=<tool> exec bash …/shim.sh "$@"
# ($PIPELINE_SHIM_TOOL says which tool it plays; without it, the name it was called
# by does). `cargo install` writes one more, `modelops`, beside the binary under test.
#
# Every call appends one line to $PIPELINE_RUN_LOG:
#   JOB <tab> TOOL <tab> KUBECONFIG <tab> ARG <tab> ARG …
# (KUBECONFIG is that variable's value, empty when unset; a tab, newline or backslash
# inside a field is written as \t, \n, \\). git is recorded only inside a job
# (gitlab-ci-local itself calls git too).
#
# Environment (set by the harness):
#   PIPELINE_RUN_LOG    the log file (required)
#   MODELOPS_TEST_BIN   the modelops binary `cargo install … modelops` puts in place
#   PIPELINE_REAL_CURL  the real curl, used for loopback URLs only
#   PIPELINE_REAL_GIT   the real git
#   PIPELINE_WATCH, PIPELINE_WATCH_INTERVAL_MS   the test's time compression of
#                       `modelops guard --watch` (see the modelops case below)
set -euo pipefail

tool=${PIPELINE_SHIM_TOOL:-$(basename "$0")}
unset PIPELINE_SHIM_TOOL
log=${PIPELINE_RUN_LOG:?PIPELINE_RUN_LOG is not set}

escape() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//$'\t'/\\t}
  s=${s//$'\n'/\\n}
  printf '%s' "$s"
}

if [ "$tool" != git ] || [ -n "${CI_JOB_NAME:-}" ]; then
  line="$(escape "${CI_JOB_NAME:--}")"$'\t'"$tool"$'\t'"$(escape "${KUBECONFIG:-}")"
  for arg in "$@"; do
    line+=$'\t'"$(escape "$arg")"
  done
  printf '%s\n' "$line" >>"$log"
fi

# kubectl apply -f FILE: kubectl decodes FILE client-side before it talks to a
# server, and refuses anything that is not Kubernetes objects (YAML or JSON, each
# document with apiVersion and kind). The stand-in does the same check, so a
# pipeline that feeds it an nginx or Envoy config fails here as it would there.
kubectl_apply_file() {
  local file=$1
  if [ ! -f "$file" ]; then
    echo "error: the path \"$file\" does not exist" >&2
    return 1
  fi
  case "$file" in
    *.yaml | *.yml | *.json) ;;
    *)
      echo "error: error parsing $file: error converting YAML to JSON: not Kubernetes objects" >&2
      return 1
      ;;
  esac
  # Every YAML document (split on ---) must name its apiVersion and kind at top level.
  if ! awk -v file="$file" '
      function check() {
        if (body && !(api && kind)) {
          printf "error: error validating \"%s\": error validating data: [apiVersion not set, kind not set]\n", file > "/dev/stderr"
          bad = 1
        }
        api = 0; kind = 0; body = 0
      }
      /^---/ { check(); next }
      /^[[:space:]]*(#.*)?$/ { next }
      { body = 1 }
      /^apiVersion:[[:space:]]*[^[:space:]]/ { api = 1 }
      /^kind:[[:space:]]*[^[:space:]]/ { kind = 1 }
      /^[[:space:]]*"apiVersion"[[:space:]]*:/ { api = 1 }
      /^[[:space:]]*"kind"[[:space:]]*:/ { kind = 1 }
      END { check(); exit bad }
    ' "$file"; then
    return 1
  fi
  echo "applied $file"
}

case "$tool" in
  kubectl)
    # The verbs the pipelines and `modelops apply` use; anything else is a new
    # command the stand-in (and the tests) should learn about.
    case "${1:-}" in
      apply)
        shift
        files=()
        while [ $# -gt 0 ]; do
          case "$1" in
            -f | --filename) files+=("$2"); shift 2 ;;
            --filename=*) files+=("${1#--filename=}"); shift ;;
            *) shift ;;
          esac
        done
        [ ${#files[@]} -gt 0 ] || { echo "error: must specify one of -f and -k" >&2; exit 1; }
        for file in "${files[@]}"; do kubectl_apply_file "$file"; done
        ;;
      rollout) echo "rollout complete: ${*:3}" ;;
      delete) echo "deleted (stand-in): ${*:2}" ;;
      # A fresh cluster: nothing exists yet (the controllers' bootstrap runs).
      get) echo "Error from server (NotFound): ${2:-object} \"${3:-}\" not found" >&2; exit 1 ;;
      wait) echo "condition met (stand-in): ${*:2}" ;;
      # The Argo Rollouts plugin (`kubectl argo rollouts status|promote|abort …`).
      argo)
        case "${2:-} ${3:-}" in
          "rollouts status") echo "Healthy" ;;
          "rollouts promote") echo "rollout '${4:-}' promoted" ;;
          "rollouts abort") echo "rollout '${4:-}' aborted" ;;
          *) echo "kubectl stand-in: no answer for: kubectl $*" >&2; exit 1 ;;
        esac
        ;;
      *) echo "kubectl stand-in: no answer for: kubectl $*" >&2; exit 1 ;;
    esac
    ;;
  cargo)
    # `cargo install [--root DIR] … modelops …` puts the binary under test where the
    # real install would: DIR/bin, else $CARGO_INSTALL_ROOT/bin, else $CARGO_HOME/bin.
    asked="cargo $*"
    if [ "${1:-}" = install ]; then
      root=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}
      wants=""
      shift
      while [ $# -gt 0 ]; do
        case "$1" in
          --root) root=$2; shift 2 ;;
          --root=*) root=${1#--root=}; shift ;;
          # A source (--path, --git) can only be modelops here.
          --path | --git) wants=modelops; shift 2 ;;
          --path=* | --git=*) wants=modelops; shift ;;
          --version | --rev | --tag | --branch | --index | --registry | --target | --profile | --features | -F | --bin | -j | --jobs | --config | -Z)
            shift 2 ;;
          -*) shift ;;
          modelops) wants=modelops; shift ;;
          *) shift ;;
        esac
      done
      if [ "$wants" = modelops ]; then
        : "${MODELOPS_TEST_BIN:?MODELOPS_TEST_BIN is not set}"
        # DIR/bin/modelops is a wrapper that records each call, then runs the binary
        # under test where cargo built it (a few hundred bytes for the artifact to
        # carry, not the binary). Written under a temporary name and renamed.
        bin="$root/bin"
        mkdir -p "$bin"
        self=$(readlink -f "$0")
        # shellcheck disable=SC2016,SC1003 # the wrapper's own text, expanded when it runs
        {
          echo '#!/bin/sh'
          echo '# Installed by the cargo stand-in of tests/pipeline/shim.sh.'
          printf 'MODELOPS_UNDER_TEST=%q PIPELINE_SHIM_TOOL=modelops \\\n' "$MODELOPS_TEST_BIN"
          printf '  exec bash %q "$@"\n' "$self"
        } >"$bin/.modelops.$$"
        chmod +x "$bin/.modelops.$$"
        mv -f "$bin/.modelops.$$" "$bin/modelops"
        echo "  Installed package \`modelops\` (executable \`modelops\`) into $bin"
      else
        echo "the cargo stand-in installs only modelops: $asked" >&2
        exit 101
      fi
    else
      echo "the cargo stand-in only installs: $asked" >&2
      exit 101
    fi
    ;;
  curl)
    # Loopback URLs go to the real curl (the test's fake endpoints); anything else
    # would leave the machine, which a test never does.
    for arg in "$@"; do
      case "$arg" in
        http://* | https://*)
          case "$arg" in
            http://127.0.0.1[:/]* | http://localhost[:/]* | http://[[]::1[]]*) ;;
            *) echo "curl stand-in: refusing a URL off this machine: $arg" >&2; exit 7 ;;
          esac
          ;;
      esac
    done
    exec "${PIPELINE_REAL_CURL:?PIPELINE_REAL_CURL is not set}" "$@"
    ;;
  git)
    exec "${PIPELINE_REAL_GIT:?PIPELINE_REAL_GIT is not set}" "$@"
    ;;
  modelops)
    # The installed modelops (see cargo): recorded above as asked, run for real.
    under_test=${MODELOPS_UNDER_TEST:?run modelops through the wrapper cargo installed}
    unset MODELOPS_UNDER_TEST
    # Time compression, on the test's side only: `--watch 2h` would hold the job two
    # hours in real time. The log above keeps the duration the pipeline asked for;
    # the binary under test watches for $PIPELINE_WATCH instead, polling every
    # $PIPELINE_WATCH_INTERVAL_MS (the variable modelops reads for testing).
    if [ -n "${PIPELINE_WATCH:-}" ]; then
      args=()
      while [ $# -gt 0 ]; do
        case "$1" in
          --watch) args+=(--watch "$PIPELINE_WATCH"); shift 2 ;;
          --watch=*) args+=("--watch=$PIPELINE_WATCH"); shift ;;
          *) args+=("$1"); shift ;;
        esac
      done
      set -- "${args[@]}"
      if [ -n "${PIPELINE_WATCH_INTERVAL_MS:-}" ]; then
        export MODELOPS_WATCH_INTERVAL_MS=$PIPELINE_WATCH_INTERVAL_MS
      fi
    fi
    exec "$under_test" "$@"
    ;;
  sleep | nginx | envoy | systemctl | kubectl-argo-rollouts)
    # A hold returns at once (the log keeps its length); nginx (`-t`, `-s reload`),
    # envoy (`--mode validate`), systemctl (the targets' `reload=`) and the Argo
    # Rollouts plugin are recorded and succeed.
    ;;
  *)
    echo "shim.sh: no stand-in for $tool" >&2
    exit 127
    ;;
esac
