"""LiteLLM callbacks that export the modelops metrics contract.

The built-in guards (src/target/guards.rs) query two metric families, labelled with
the modelops model name and release:

  modelops_requests_total{model,release,code}           a counter per HTTP status
  modelops_request_duration_seconds{model,release}      a histogram (_bucket{le})

LiteLLM's own Prometheus metrics (`litellm_*`) have other names and labels, so this
module records these two into prometheus_client's default registry, which the
proxy's `/metrics` serves once `prometheus` is among the config's callbacks (the
config entrypoint.py writes does that).

  - a successful completion (streamed or not) counts with code="200";
  - a failed request counts with the status the proxy answers (the exception's
    `status_code`, else 500);
  - both observe the time from the proxy's pre-call hook (the request parsed and
    admitted) to the outcome: for a stream, to its last chunk. A failure that
    happens before that hook (a body that is not JSON) is counted, not timed.

The labels come from MODELOPS_MODEL and MODELOPS_RELEASE, which the manifests set
and entrypoint.py checks against release.json.

One process: with several workers (`--num_workers`), prometheus_client needs
PROMETHEUS_MULTIPROC_DIR, which LiteLLM's /metrics then reads.
"""

import os
import time
from datetime import datetime

from litellm.integrations.custom_logger import CustomLogger
from prometheus_client import Counter, Histogram

MODEL = os.environ.get("MODELOPS_MODEL", "")
RELEASE = os.environ.get("MODELOPS_RELEASE", "")

# Bucket edges in seconds: fine below 3 s, where latency guards usually sit
# (`guard "latency-p99" max="2s"`), coarse up to the long completions.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 20, 30, 60, 120)

REQUESTS = Counter(
    "modelops_requests",
    "Chat completion requests answered, by HTTP status code.",
    ["model", "release", "code"],
)
DURATION = Histogram(
    "modelops_request_duration_seconds",
    "Time to answer a chat completion request, in seconds.",
    ["model", "release"],
    buckets=BUCKETS,
)


def _seconds(start, end):
    if isinstance(start, datetime) and isinstance(end, datetime):
        return max(0.0, (end - start).total_seconds())
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        return max(0.0, float(end - start))
    return None


def _status(exception):
    for attribute in ("status_code", "code"):
        value = getattr(exception, attribute, None)
        try:
            code = int(value)
        except (TypeError, ValueError):
            continue
        if 100 <= code <= 599:
            return code
    return 500


class ModelopsMetrics(CustomLogger):
    """Records the modelops_* metrics for every request the proxy answers."""

    # Requests in flight: LiteLLM's call id -> when the proxy took the request.
    # Bounded, in case a request ends by a path that reports neither outcome.
    MAX_IN_FLIGHT = 10_000

    def __init__(self):
        super().__init__()
        self.started = {}

    def record(self, code, seconds):
        REQUESTS.labels(MODEL, RELEASE, str(code)).inc()
        if seconds is not None:
            DURATION.labels(MODEL, RELEASE).observe(seconds)

    def elapsed(self, call_id):
        start = self.started.pop(call_id, None) if call_id else None
        return None if start is None else max(0.0, time.monotonic() - start)

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        call_id = data.get("litellm_call_id") if isinstance(data, dict) else None
        if call_id:
            if len(self.started) >= self.MAX_IN_FLIGHT:
                self.started.pop(next(iter(self.started)))
            self.started[call_id] = time.monotonic()
        return None

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        seconds = self.elapsed(kwargs.get("litellm_call_id"))
        if seconds is None:
            seconds = _seconds(start_time, end_time)
        self.record(200, seconds)

    async def async_post_call_failure_hook(
        self, request_data, original_exception, user_api_key_dict, traceback_str=None
    ):
        # Every request the proxy fails, before the call or during it, passes here
        # once (LiteLLM's failure *logging* event would miss the former, and fires
        # once per retry).
        call_id = request_data.get("litellm_call_id") if isinstance(request_data, dict) else None
        self.record(_status(original_exception), self.elapsed(call_id))
        return None


handler = ModelopsMetrics()

# The series a guard reads exist from the start, at zero, so a release that has
# answered nothing yet reads as "no traffic", never as "no such metric".
REQUESTS.labels(MODEL, RELEASE, "200")
DURATION.labels(MODEL, RELEASE)
