"""Loads a generated LiteLLM config with LiteLLM itself, offline, and checks it.

Usage: python litellm_check.py CONFIG.yaml MODEL_NAME REQUESTS

Prints one JSON object: the entries' ids, how many of REQUESTS mock completions each
served, and which entry answered when the first call is forced to fail.
"""

import json
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import yaml  # noqa: E402
import litellm  # noqa: E402
from litellm import Router  # noqa: E402
from litellm.types.router import Deployment  # noqa: E402

path, model_name, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path) as f:
    config = yaml.safe_load(f)

for entry in config["model_list"]:
    Deployment(**entry)  # raises on an invalid entry
    key = entry["litellm_params"].get("api_key", "")
    assert key.startswith("os.environ/"), f"literal key in {entry}"

settings = config.get("router_settings", {})
router = Router(
    model_list=config["model_list"],
    fallbacks=config.get("litellm_settings", {}).get("fallbacks", []),
    routing_strategy=settings.get("routing_strategy", "simple-shuffle"),
    num_retries=settings.get("num_retries", 0),
)
messages = [{"role": "user", "content": "Hello"}]
counts = {}
for _ in range(requests):
    response = router.completion(model=model_name, messages=messages, mock_response="ok")
    served = response._hidden_params.get("model_id")
    counts[served] = counts.get(served, 0) + 1

fallback = router.completion(
    model=model_name, messages=messages, mock_response="ok", mock_testing_fallbacks=True
)
print(json.dumps({
    "ids": [e["model_info"]["id"] for e in config["model_list"]],
    "counts": counts,
    "fallback_served_by": fallback._hidden_params.get("model_id"),
}))
