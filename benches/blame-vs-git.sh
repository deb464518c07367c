#!/usr/bin/env bash
# modelops blame against git blame on the same prompt: a version file with 500 commits
# of history (several authors), and the same history continued into a v2 copy.
#
#   benches/blame-vs-git.sh [COMMITS]
#
# Needs: git, hyperfine (Debian packages). Prints the medians and the ratio
# (modelops / git blame; the budget is 1.5).
set -euo pipefail
cd "$(dirname "$0")/.."
commits=${1:-500}
for tool in git hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 2; }
done
cargo build --release --quiet
modelops=$PWD/target/release/modelops
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q .
git config user.email bench@example.com
cat > modelops.kdl <<'KDL'
project "bench"
environment "prod" namespace="llm-prod"
KDL
mkdir -p models prompts/assistant
cat > models/assistant.kdl <<'KDL'
model "assistant" {
    release "1.0.0" {
        base "openai/gpt-4o-2024-08-06"
        image "ghcr.io/acme/gateway@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        prompt "assistant" version=1
    }
    deploy "prod" {
        stable "1.0.0"
    }
}
KDL
# 500 commits, each rewriting a few lines of a 200-line prompt.
python3 - "$commits" <<'PY'
import random, subprocess, sys
commits = int(sys.argv[1])
rng = random.Random(7)
lines = [f"Rule {i}: answer carefully and briefly." for i in range(200)]
authors = ["Ann", "Ben", "Cid", "Dee", "Eve", "Fay"]
for c in range(commits):
    for _ in range(3):
        lines[rng.randrange(len(lines))] = f"Rule revised in commit {c}: {rng.random():.6f}"
    if c % 7 == 0:
        lines.insert(rng.randrange(len(lines)), f"Rule added in commit {c}.")
    open("prompts/assistant/v1.md", "w").write("\n".join(lines) + "\n")
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "-c", f"user.name={authors[c % len(authors)]}", "commit", "-q", "-m", f"edit {c}"], check=True)
PY
hyperfine --warmup 3 --runs 20 -N --export-json blame.json \
  "git blame --porcelain prompts/assistant/v1.md" \
  "$modelops blame assistant --format json" >/dev/null
python3 - <<'PY'
import json
r = json.load(open("blame.json"))["results"]
git, ours = r[0]["median"], r[1]["median"]
print(f"git blame: {git*1e3:.1f} ms, modelops blame: {ours*1e3:.1f} ms (medians), ratio {ours/git:.2f}")
PY
