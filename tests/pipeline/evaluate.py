"""A stand-in for the evaluator the example's eval gate runs (`python evals/run.py
--endpoint E --out S`): tests/pipelines_run.rs commits this file as evals/run.py in
its copy of the example (copy_example copies no evals/).

It asks the endpoint (a fake model on loopback) every item of $MODELOPS_DATASET and
writes one score line per item, {"id": …, "score": 1 or 0}, as `modelops gate` reads
them: 1 when the answer has text. Each call is recorded in $PIPELINE_RUN_LOG like the
tool stand-ins record theirs (see shim.sh).
"""

import argparse
import json
import os
import sys
import urllib.parse
import urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--endpoint", required=True)
parser.add_argument("--out", required=True)
args, _ = parser.parse_known_args()

with open(os.environ["PIPELINE_RUN_LOG"], "a", encoding="utf-8") as log:
    fields = [os.environ.get("CI_JOB_NAME", "-"), "evals/run.py", *sys.argv[1:]]
    log.write("\t".join(f.replace("\t", "\\t").replace("\n", "\\n") for f in fields) + "\n")

host = urllib.parse.urlsplit(args.endpoint).hostname
if host not in ("127.0.0.1", "localhost", "::1"):
    sys.exit(f"evaluate.py: refusing an endpoint off this machine: {args.endpoint}")

with open(os.environ["MODELOPS_DATASET"], encoding="utf-8") as dataset, open(
    args.out, "w", encoding="utf-8"
) as out:
    for line in dataset:
        if not line.strip():
            continue
        item = json.loads(line)
        request = urllib.request.Request(
            args.endpoint.rstrip("/") + "/v1/chat/completions",
            data=json.dumps({"messages": [{"role": "user", "content": item["input"]}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            answer = json.load(reply)["choices"][0]["message"]["content"]
        out.write(json.dumps({"id": item["id"], "score": 1 if answer.strip() else 0}) + "\n")
