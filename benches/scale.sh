#!/usr/bin/env bash
# Whole-command timings at several repository sizes, with hyperfine.
#
#   benches/scale.sh [SIZES...]          (default: 10 100 1000 2000 models)
#   RUNS=10 benches/scale.sh 2000        (more runs per command; default 5)
#
# For each size it generates a repository (3 releases a model, 3 prompt versions a
# model, ~4 KiB prompts), locks and compiles it, commits it twice (for --staged and
# diff), then times: check cold (no analysis cache), check warm, check --staged,
# lock --check, compile --check, diff HEAD~1, blame. Prints a Markdown table of
# medians (ms) and peak RSS of a warm check and of compile --check (KiB).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1000 2000)
runs=${RUNS:-5}
for tool in hyperfine git python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 2; }
done
cargo build --release --quiet --example gen-repo
cargo build --release --quiet
modelops=$PWD/target/release/modelops
gen=$PWD/target/release/examples/gen-repo
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "| models | check cold | check warm | check --staged | lock --check | compile --check | diff HEAD~1 | blame | RSS check (KiB) | RSS compile (KiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
  repo=$work/repo-$n
  "$gen" --models "$n" --releases 3 --prompt-versions $((n * 3)) --out "$repo" 2>/dev/null
  (
    cd "$repo"
    git init -q . && git config user.email bench@example.com && git config user.name Bench
    "$modelops" lock 2>/dev/null
    "$modelops" compile >/dev/null 2>&1
    git add -A && git commit -q -m one
    printf '\nExtra line.\n' >> prompts/p-00001/v3.md
    "$modelops" lock 2>/dev/null
    git add -A && git commit -q -m two
    "$modelops" compile >/dev/null 2>&1
    hyperfine -N --runs "$runs" --warmup 1 --export-json "$work/h-$n.json" \
      --command-name cold --prepare "rm -rf $repo/.modelops-cache" "$modelops check" \
      --command-name warm "$modelops check" \
      --command-name staged "$modelops check --staged" \
      --command-name lock "$modelops lock --check" \
      --command-name compile "$modelops compile --check" \
      --command-name diff "$modelops diff HEAD~1 HEAD" \
      --command-name blame "$modelops blame p-00001" >/dev/null 2>&1
    rss_check=$( { /usr/bin/time -f %M "$modelops" check >/dev/null 2>/dev/null; } 2>&1 | tail -1)
    rss_compile=$( { /usr/bin/time -f %M "$modelops" compile --check >/dev/null 2>/dev/null; } 2>&1 | tail -1)
    python3 - "$work/h-$n.json" "$n" "$rss_check" "$rss_compile" <<'PY'
import json, sys
results = {r["command"]: r["median"] * 1000 for r in json.load(open(sys.argv[1]))["results"]}
cells = [f"{results[c]:.0f}" for c in ["cold", "warm", "staged", "lock", "compile", "diff", "blame"]]
print(f"| {sys.argv[2]} | " + " | ".join(cells) + f" | {sys.argv[3]} | {sys.argv[4]} |")
PY
  )
done
