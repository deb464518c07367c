"""Loads a generated LiteLLM config with LiteLLM itself, offline, and checks it.

Usage: python litellm_check.py CONFIG.yaml MODEL_NAME REQUESTS [--live]

Without --live the completions are mocked inside LiteLLM. With --live every entry's
`api_base` must be on loopback: the script serves a stub OpenAI-compatible backend
on each of them, sends REQUESTS real completions through the router, and reports
what the backends received (the request's `model`, its Authorization header).

Prints one JSON object: the entries' ids, how many of REQUESTS completions each
served, which entry answered when the first call is forced to fail, and with --live
the requests the backends saw.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import yaml  # noqa: E402
import litellm  # noqa: E402
from litellm import Router  # noqa: E402
from litellm.types.router import Deployment  # noqa: E402

path, model_name, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
live = "--live" in sys.argv[4:]
with open(path) as f:
    config = yaml.safe_load(f)

ids = [e["model_info"]["id"] for e in config["model_list"]]
assert len(set(ids)) == len(ids), f"model_info.id repeated: {ids}"
for entry in config["model_list"]:
    Deployment(**entry)  # raises on an invalid entry
    key = entry["litellm_params"].get("api_key")
    assert key, f"no api_key in {entry}: LiteLLM would fall back to OPENAI_API_KEY"
    assert not key.startswith(("sk-", "os.environ/")), f"vendor key in {entry}"

seen = []
seen_lock = threading.Lock()


class Stub(BaseHTTPRequestHandler):
    """A serving container: answers any chat completion and records the request."""

    def do_POST(self):  # noqa: N802 (the http.server hook's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = json.loads(body or b"{}")
        with seen_lock:
            seen.append({
                "port": self.server.server_address[1],
                "path": self.path,
                "model": request.get("model"),
                "authorization": self.headers.get("Authorization"),
            })
        answer = json.dumps({
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 0,
            "model": request.get("model"),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


servers = []
if live:
    bases = {urlsplit(e["litellm_params"]["api_base"]) for e in config["model_list"]}
    for base in sorted(bases, key=lambda b: b.netloc):
        assert base.hostname == "127.0.0.1", f"--live needs loopback api_base: {base}"
        server = ThreadingHTTPServer((base.hostname, base.port), Stub)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)

settings = config.get("router_settings", {})
router = Router(
    model_list=config["model_list"],
    fallbacks=config.get("litellm_settings", {}).get("fallbacks", []),
    routing_strategy=settings.get("routing_strategy", "simple-shuffle"),
    num_retries=settings.get("num_retries", 0),
)
messages = [{"role": "user", "content": "Hello"}]
mock = {} if live else {"mock_response": "ok"}
counts = {}
for _ in range(requests):
    response = router.completion(model=model_name, messages=messages, **mock)
    served = response._hidden_params.get("model_id")
    counts[served] = counts.get(served, 0) + 1

fallback = router.completion(
    model=model_name, messages=messages, mock_testing_fallbacks=True, **mock
)
for server in servers:
    server.shutdown()
print(json.dumps({
    "ids": ids,
    "counts": counts,
    "fallback_served_by": fallback._hidden_params.get("model_id"),
    "seen": seen,
}))
