#!/usr/bin/env bash
# A recording stand-in for a tool a generated pipeline calls, for running the pipelines
# on a machine without a cluster (tests/pipelines_run.rs). The harness puts a
# two-line script per tool (kubectl, nginx, envoy, curl, cargo, sleep, apply-traffic)
# into a folder first on PATH, each running
#   PIPELINE_SHIM_TOOL=<tool> exec bash …/shim.sh "$@"
# ($PIPELINE_SHIM_TOOL says which tool it plays; without it, the name it was called
# by does).
#
# Every call appends one line to $PIPELINE_RUN_LOG:
#   JOB <tab> TOOL <tab> ARG <tab> ARG …
# (a tab, newline or backslash inside an argument is written as \t, \n, \\).
#
# Environment (set by the harness):
#   PIPELINE_RUN_LOG   the log file (required)
#   MODELOPS_TEST_BIN  the modelops binary `cargo install … modelops` puts in place
#   PIPELINE_REAL_CURL the real curl, used for loopback URLs only
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

line="$(escape "${CI_JOB_NAME:--}")"$'\t'"$tool"
for arg in "$@"; do
  line+=$'\t'"$(escape "$arg")"
done
printf '%s\n' "$line" >>"$log"

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
      *) ;;
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
        # DIR/bin/modelops records each call, then runs the binary under test, copied
        # beside it (so an artifact of DIR carries both). Written under temporary
        # names and renamed: jobs install at the same time, and one may be running
        # the previous copy.
        bin="$root/bin"
        mkdir -p "$bin"
        cp "$MODELOPS_TEST_BIN" "$bin/.modelops-under-test.$$"
        mv -f "$bin/.modelops-under-test.$$" "$bin/modelops-under-test"
        self=$(readlink -f "$0")
        # shellcheck disable=SC2016,SC1003 # the wrapper's own text, expanded when it runs
        {
          echo '#!/bin/sh'
          echo '# Installed by the cargo stand-in of tests/pipeline/shim.sh.'
          echo 'MODELOPS_UNDER_TEST="$(dirname "$0")/modelops-under-test" PIPELINE_SHIM_TOOL=modelops \'
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
  modelops)
    # The installed modelops (see cargo): recorded above, run for real.
    under_test=${MODELOPS_UNDER_TEST:?run modelops through the wrapper cargo installed}
    unset MODELOPS_UNDER_TEST
    exec "$under_test" "$@"
    ;;
  apply-traffic)
    # What a site puts in MODELOPS_APPLY when one command must apply every traffic
    # target's file: each file goes to the tool that loads it (through the stand-ins).
    file=${1:?apply-traffic FILE}
    [ -f "$file" ] || { echo "apply-traffic: no such file: $file" >&2; exit 1; }
    case "$file" in
      generated/istio/*) kubectl apply -f "$file" ;;
      generated/envoy/*) envoy --mode validate -c "$file" ;;
      generated/nginx/*) nginx -t -c "$file" ;;
      generated/litellm/*) ;;
      *) echo "apply-traffic: which target loads $file?" >&2; exit 1 ;;
    esac
    ;;
  sleep | nginx | envoy)
    # A hold returns at once (the log keeps its length); nginx and envoy are recorded.
    ;;
  *)
    echo "shim.sh: no stand-in for $tool" >&2
    exit 127
    ;;
esac
