#!/usr/bin/env bash
# Whole-command timings at several repository sizes, with hyperfine, and the same
# work done by the tools a team would otherwise use.
#
#   benches/scale.sh [SIZES...]          (default: 10 100 1000 2000 models)
#   RUNS=10 benches/scale.sh 2000        (more runs per command; default 5)
#
# For each size it generates a repository (3 releases a model, 3 prompt versions a
# model, ~4 KiB prompts, every target), locks and compiles it, commits it twice (for
# --staged and diff), then times: check, check --staged, lock --check, compile --check, compile after a change to one model
# (the usual writing compile), compile into an empty folder (no output, no output
# index or spare tree in the cache folder: every file written), diff HEAD~1, blame.
# The cache folder (MODELOPS_CACHE_DIR) is a folder of the run's own, outside the
# repository, as a user's ~/.cache would be. Peers, where installed: check-jsonschema validating the same JSON
# views against the same schema (the views are dumped by examples/dump-views.rs),
# b3sum hashing the same prompt and dataset files, git blame on the same prompt file,
# and jsonnet rendering Kubernetes manifests from the resolved configuration
# (benches/peers/kubernetes.jsonnet) against `compile --target kubernetes`. Prints Markdown tables of medians (ms), peak RSS (KiB) and ours/theirs ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1000 2000)
runs=${RUNS:-5}
for tool in hyperfine git python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 2; }
done
cargo build --release --quiet --example gen-repo --example dump-views
cargo build --release --quiet
modelops=$PWD/target/release/modelops
gen=$PWD/target/release/examples/gen-repo
dump=$PWD/target/release/examples/dump-views
schema=$PWD/schema/modelops.schema.json
jsonnet_peer=$PWD/benches/peers/kubernetes.jsonnet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# What a timed run's preparation takes away is moved here, not deleted: on ext4
# without a journal (this machine's root file system), a folder created within
# minutes of mass deletions is slow to fill, as the kernel skips recently freed
# inodes one by one (`recently_deleted`); removing 48,000 files before each run
# made a compile into an empty folder take 17–28 s instead of under 2 s.
trash=$work/trash
mkdir -p "$trash"
# The output cache (index and spare tree) of every repository below: on the same
# file system as the repositories, outside them.
export MODELOPS_CACHE_DIR=$work/cache
# set_aside PATH... — a shell command that moves the existing PATHs to a new folder
# in the trash.
set_aside() {
  printf 'sh -c %q' "d=\$(mktemp -d -p $trash) && for p in $*; do if [ -e \"\$p\" ]; then mv \"\$p\" \"\$d\"/; fi; done"
}

for n in "${sizes[@]}"; do
  repo=$work/repo-$n
  "$gen" --models "$n" --releases 3 --prompt-versions $((n * 3)) --out "$repo" 2>/dev/null
  "$dump" "$repo" "$work/views-$n" 2>/dev/null
  (
    cd "$repo"
    git init -q . && git config user.email bench@example.com && git config user.name Bench
    "$modelops" lock 2>/dev/null
    "$modelops" compile >/dev/null 2>&1
    git add -A && git commit -q -m one
    # The second commit adds a prompt version and a release using it (released
    # content is never edited in place).
    { cat prompts/p-00001/v3.md; printf '\nExtra line.\n'; } > prompts/p-00001/v4.md
    python3 - models/m-00001.kdl <<'EDIT'
import sys
path = sys.argv[1]
text = open(path).read().rstrip()
assert text.endswith("}")
release = '    release "9.0.0" from="1.0.0" {\n        prompt "p-00001" version=4\n    }\n'
open(path, "w").write(text[:-1] + release + "}\n")
EDIT
    "$modelops" lock 2>/dev/null
    git add -A && git commit -q -m two
    "$modelops" compile >/dev/null 2>&1
    peers=()
    if command -v check-jsonschema >/dev/null; then
      peers+=(--command-name peer-jsonschema "check-jsonschema --schemafile $schema $work/views-$n/*.json")
    fi
    if command -v b3sum >/dev/null; then
      peers+=(--command-name peer-b3sum "b3sum prompts/*/*.md datasets/golden.jsonl")
    fi
    peers+=(--command-name peer-git-blame "git blame --porcelain prompts/p-00001/v3.md")
    # hyperfine -N cannot expand globs: the peers run through a shell, and their
    # medians have its start-up (~1 ms) subtracted by hyperfine's calibration.
    # A --prepare applies to every command of one hyperfine run: the compile after a
    # change (which flips one model's prod replicas between 3 and 4 first) and the
    # compile into an empty folder (which sets aside the output and the cache folder
    # first) run on their own.
    # Each group starts with the disk settled: the setup's writes (hundreds of MB at
    # 2,000 models) would otherwise be written back during the timings.
    flip="sed -i -e s/replicas.3\$/replicas=X/ -e s/replicas.4\$/replicas\ 3/ -e s/replicas=X/replicas\ 4/ $repo/models/m-00001.kdl"
    grep -q 'replicas [34]$' models/m-00001.kdl || { echo "error: no replicas to flip" >&2; exit 2; }
    sync
    hyperfine -N --runs "$runs" --warmup 1 --export-json "$work/h-$n-change.json" \
      --command-name compile --prepare "$flip" "$modelops compile" >/dev/null 2>&1
    git checkout -q models && "$modelops" compile >/dev/null 2>&1
    sync
    hyperfine -N --runs "$runs" --warmup 1 --export-json "$work/h-$n-fresh.json" \
      --command-name compile-fresh --prepare "$(set_aside "$repo/generated" "$MODELOPS_CACHE_DIR")" \
      "$modelops compile" >/dev/null 2>&1
    sync
    hyperfine -N --runs "$runs" --warmup 1 --export-json "$work/h-$n.json" \
      --command-name check "$modelops check" \
      --command-name staged "$modelops check --staged" \
      --command-name lock "$modelops lock --check" \
      --command-name compile-check "$modelops compile --check" \
      --command-name diff "$modelops diff HEAD~1 HEAD" \
      --command-name blame "$modelops blame p-00001" >/dev/null 2>&1
    if [ ${#peers[@]} -gt 0 ]; then
      hyperfine --runs "$runs" --warmup 1 --export-json "$work/p-$n.json" \
        "${peers[@]}" >/dev/null 2>&1 || echo "warning: a peer failed at $n models" >&2
    fi
    # jsonnet (Debian's 0.18) renders about one model in 1.5 s: it runs once, at the
    # small sizes only (JSONNET_MAX_MODELS, default 100).
    if command -v jsonnet >/dev/null && [ "$n" -le "${JSONNET_MAX_MODELS:-100}" ]; then
      "$modelops" inspect --format json > "$work/resolved-$n.json" 2>/dev/null
      mkdir -p "$work/jsonnet-$n"
      hyperfine -N --runs "$runs" --warmup 1 --export-json "$work/j-$n.json" \
        --prepare "rm -rf $repo/k8s-bench" \
        --command-name ours-k8s "$modelops compile --target kubernetes --out $repo/k8s-bench" \
        >/dev/null 2>&1
      hyperfine -N --runs 1 --export-json "$work/jp-$n.json" \
        --command-name peer-jsonnet "jsonnet -S -m $work/jsonnet-$n --tla-code-file config=$work/resolved-$n.json $jsonnet_peer" \
        >/dev/null 2>&1 || echo "warning: the jsonnet peer failed at $n models" >&2
    fi
    rss() { /usr/bin/time -o "$work/rss-one" -f %M "$@" >/dev/null 2>&1 || true; tail -1 "$work/rss-one"; }
    plain=$(rss "$modelops" check)
    check=$(rss "$modelops" compile --check)
    eval "$(set_aside "$repo/generated" "$MODELOPS_CACHE_DIR")"
    fresh=$(rss "$modelops" compile)
    echo "$n $plain $check $fresh" >> "$work/rss"
  )
done

python3 - "$work" "${sizes[@]}" <<'PY'
import json, os, sys
work, sizes = sys.argv[1], sys.argv[2:]
def medians(path):
    out = {}
    for suffix in ["", "-change", "-fresh"]:
        p = path.replace(".json", suffix + ".json")
        if os.path.exists(p):
            out.update({r["command"]: r["median"] * 1000 for r in json.load(open(p))["results"]})
    return out
rss = {}
for line in open(os.path.join(work, "rss")):
    n, *kib = line.split()
    rss[n] = kib
cols = ["check", "staged", "lock", "compile-check", "compile", "compile-fresh", "diff", "blame"]
print("| models | check | check --staged | lock --check | compile --check | compile, one model changed | compile, empty folder | diff HEAD~1 | blame | RSS check / compile --check / compile, empty folder (MiB) |")
print("|---|" + "---|" * 9)
for n in sizes:
    m = medians(os.path.join(work, f"h-{n}.json"))
    mib = " / ".join(f"{int(kib) / 1024:.0f}" for kib in rss[n])
    print(f"| {n} | " + " | ".join(f"{m[c]:.0f}" for c in cols) + f" | {mib} |")
print()
print("| models | modelops check vs check-jsonschema | lock --check vs b3sum | blame vs git blame |")
print("|---|---|---|---|")
for n in sizes:
    m = medians(os.path.join(work, f"h-{n}.json"))
    p = medians(os.path.join(work, f"p-{n}.json"))
    def pair(ours, theirs):
        if theirs not in p:
            return "n/a"
        return f"{m[ours]:.0f} / {p[theirs]:.0f} ms = {m[ours] / p[theirs]:.2f}×"
    print(f"| {n} | {pair('check', 'peer-jsonschema')} | {pair('lock', 'peer-b3sum')} | {pair('blame', 'peer-git-blame')} |")
jsonnet = [n for n in sizes if os.path.exists(os.path.join(work, f"j-{n}.json"))]
if jsonnet:
    print()
    print("| models | modelops compile --target kubernetes vs jsonnet rendering the resolved config |")
    print("|---|---|")
    for n in jsonnet:
        j = medians(os.path.join(work, f"j-{n}.json"))
        jp = os.path.join(work, f"jp-{n}.json")
        if not os.path.exists(jp):
            continue
        j.update({r["command"]: r["median"] * 1000 for r in json.load(open(jp))["results"]})
        print(f"| {n} | {j['ours-k8s']:.0f} / {j['peer-jsonnet']:.0f} ms = {j['ours-k8s'] / j['peer-jsonnet']:.3f}× |")
for a, b in [("1000", "2000"), ("100", "1000")]:
    if a in sizes and b in sizes:
        ma, mb = medians(os.path.join(work, f"h-{a}.json")), medians(os.path.join(work, f"h-{b}.json"))
        ratios = ", ".join(f"{c} {mb[c] / ma[c]:.2f}×" for c in cols)
        print(f"\n{b} vs {a} models: {ratios}")
PY
