#!/usr/bin/env bash
# Hashing throughput of modelops against b3sum on identical inputs:
# 6,000 prompt-sized files of 4 KiB, and one dataset (1 GiB by default).
#
#   benches/hash-vs-b3sum.sh [DATASET_MIB]
#
# Needs: hyperfine and b3sum (Debian packages `hyperfine`, `b3sum`). Prints hyperfine's
# table and the ratios of the medians (modelops / b3sum; below 1.25 means at least 80 %
# of b3sum's throughput).
set -euo pipefail
cd "$(dirname "$0")/.."
dataset_mib=${1:-1024}
for tool in hyperfine b3sum python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 2; }
done

cargo build --release --quiet --example hash
hash=$PWD/target/release/examples/hash
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$dataset_mib" <<'PY'
import os, random, sys
root, mib = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
for i in range(6000):
    d = os.path.join(root, "prompts", f"p{i:04}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "v1.md"), "wb") as f:
        f.write(rng.randbytes(4096))
os.makedirs(os.path.join(root, "datasets"), exist_ok=True)
chunk = rng.randbytes(1 << 20)
with open(os.path.join(root, "datasets", "large.jsonl"), "wb") as f:
    for _ in range(mib):
        f.write(chunk)
PY

cd "$work"
find prompts -name 'v1.md' | sort > prompt-list
# Both tools must agree on every hash before their speed means anything.
xargs "$hash" "$work" < prompt-list | sort > ours.txt
xargs b3sum < prompt-list | sort > theirs.txt
cmp ours.txt theirs.txt
[ "$("$hash" "$work" datasets/large.jsonl | cut -d' ' -f1)" = "$(b3sum --no-names datasets/large.jsonl)" ]

hyperfine --warmup 2 --runs 15 -N --export-json prompts.json \
  "b3sum --no-names $(tr '\n' ' ' < prompt-list)" \
  "$hash $work $(tr '\n' ' ' < prompt-list)" >/dev/null
hyperfine --warmup 1 --runs 10 -N --export-json dataset.json \
  "b3sum --no-names datasets/large.jsonl" \
  "$hash $work datasets/large.jsonl" >/dev/null

python3 - <<'PY'
import json
for name, label, size in (("prompts", "6000 x 4 KiB prompt files", 6000 * 4096), ("dataset", "one dataset", None)):
    r = json.load(open(f"{name}.json"))["results"]
    theirs, ours = r[0]["median"], r[1]["median"]
    if size is None:
        import os
        size = os.path.getsize("datasets/large.jsonl")
    mib = size / (1 << 20)
    print(f"{label}: b3sum {theirs*1e3:.1f} ms ({mib/theirs:.0f} MiB/s), "
          f"modelops {ours*1e3:.1f} ms ({mib/ours:.0f} MiB/s), "
          f"throughput ratio modelops/b3sum {theirs/ours:.2f}")
PY
