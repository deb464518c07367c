#!/usr/bin/env python3
"""Scores one release's configuration on a golden dataset, before it is deployed.

The eval gate runs this once for the stable release and once for the candidate,
after `modelops inspect MODEL --env ENV --track TRACK --out DIR` wrote the files
that track's pods would read (system-prompt.txt, params.json, release.json). For
each dataset item it asks the release's base model, with the release's system
prompt and params, then has the judge model grade the answer against the expected
one from 0 to 1. It writes one JSON line {"id": ..., "score": ...} per item, in
dataset order: the input `modelops gate` compares.

Inputs (flags override the environment; --release-dir also overrides the
MODELOPS_*_FILE variables and MODELOPS_BASE_MODEL):
  MODELOPS_RELEASE_DIR   the --out folder of `modelops inspect` (--release-dir)
  MODELOPS_PROMPT_FILE   default: $MODELOPS_RELEASE_DIR/system-prompt.txt
  MODELOPS_PARAMS_FILE   default: $MODELOPS_RELEASE_DIR/params.json
  MODELOPS_RELEASE_FILE  default: $MODELOPS_RELEASE_DIR/release.json
  MODELOPS_BASE_MODEL    default: the base id in release.json
  MODELOPS_DATASET       JSON Lines of {"id", "input", "expected"} (--dataset)
  MODELOPS_JUDGE         the judge model id, e.g. openai/gpt-4o-2024-08-06 (--judge)
  MODELOPS_SCORES        the score file to write (--out)
  MODELOPS_PROVIDER_URL  an OpenAI-compatible API for every call (default: the
                         provider's own, from the model id's prefix)
  OPENAI_API_KEY, ANTHROPIC_API_KEY   the key of each provider called
  MODELOPS_TRACK         stable or candidate, for the summary line
  MODELOPS_EVAL_TIMEOUT  seconds per request (default 60)
"""
import argparse
import http.client
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

# Provider prefix of a model id -> its OpenAI-compatible API and key variable.
PROVIDERS = {
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "anthropic": ("https://api.anthropic.com/v1", "ANTHROPIC_API_KEY"),
}

# Release params whose OpenAI name is not the kebab-case name with underscores.
PARAM_NAMES = {"stop-sequences": "stop", "max-output-tokens": "max_tokens"}

JUDGE_INSTRUCTIONS = (
    "You grade answers. Compare the answer with the expected answer and reply "
    "with a single number from 0 to 1: 1 when the answer does everything the "
    "expected answer describes, 0 when it does none of it. Reply with the "
    "number only."
)

ATTEMPTS = 3


class EvalError(Exception):
    """A problem worth one clear line on stderr."""


def read_text(path, what):
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as error:
        raise EvalError(f"cannot read the {what} `{path}`: {error.strerror}") from None


def read_json(path, what):
    text = read_text(path, what)
    try:
        return json.loads(text)
    except ValueError as error:
        raise EvalError(f"the {what} `{path}` is not JSON: {error}") from None


def read_dataset(path):
    items, seen = [], set()
    for number, line in enumerate(read_text(path, "dataset").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as error:
            raise EvalError(f"`{path}` line {number}: {error}") from None
        if not isinstance(item, dict) or not all(k in item for k in ("id", "input", "expected")):
            raise EvalError(f"`{path}` line {number}: expected an object with id, input, expected")
        if not isinstance(item["id"], (str, int)) or isinstance(item["id"], bool):
            raise EvalError(f"`{path}` line {number}: `id` must be a string or an integer")
        if item["id"] in seen:
            raise EvalError(f"`{path}` line {number}: item `{item['id']}` appears twice")
        seen.add(item["id"])
        items.append(item)
    if not items:
        raise EvalError(f"the dataset `{path}` has no items")
    return items


def openai_params(params):
    """The release's params under their OpenAI names (`top-p` -> `top_p`)."""
    return {PARAM_NAMES.get(name, name.replace("-", "_")): value for name, value in params.items()}


class Client:
    """Chat completions against OpenAI-compatible APIs, one provider key per call."""

    def __init__(self, url, timeout):
        self.url = url
        self.timeout = timeout

    def chat(self, model_id, messages, params):
        provider, _, model = model_id.partition("/")
        if not model:
            raise EvalError(f"`{model_id}` is not a provider/model id")
        default_url, key_name = PROVIDERS.get(provider, (None, "OPENAI_API_KEY"))
        url = self.url or default_url
        if url is None:
            raise EvalError(
                f"no API known for `{provider}` models; set MODELOPS_PROVIDER_URL "
                "to an OpenAI-compatible endpoint that serves them"
            )
        key = os.environ.get(key_name)
        if not key:
            raise EvalError(f"{key_name} is not set (needed to call `{model_id}`)")
        body = {**params, "model": model, "messages": messages}
        reply = self.post(url.rstrip("/") + "/chat/completions", body, key)
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise EvalError(f"`{model_id}` replied without choices[0].message") from None
        return content if isinstance(content, str) else ""

    def post(self, url, body, key):
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
        for attempt in range(1, ATTEMPTS + 1):
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                retry = error.code == 429 or error.code >= 500
                detail = error.read(300).decode("utf-8", "replace").strip()
                problem = f"HTTP {error.code} {error.reason} {detail}".strip()
            except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
                retry = True
                problem = str(getattr(error, "reason", error))
            except ValueError as error:
                raise EvalError(f"{url} replied with something other than JSON: {error}") from None
            if not retry or attempt == ATTEMPTS:
                raise EvalError(f"{url}: {problem}")
            time.sleep(2 ** attempt)
        raise AssertionError("unreachable")


def parse_score(text):
    """The first number in the judge's reply, read on 0-1 (`8/10` and `80%` too);
    anything else scores 0."""
    match = re.search(r"(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?)|(%))?", text or "")
    if not match:
        return 0.0
    value = float(match.group(1))
    if match.group(2) and float(match.group(2)) > 0:
        value /= float(match.group(2))
    elif match.group(3):
        value /= 100
    return min(1.0, max(0.0, value))


def grade(client, judge, item, answer):
    question = (
        f"Question:\n{item['input']}\n\nExpected answer:\n{item['expected']}\n\n"
        f"Answer:\n{answer}"
    )
    messages = [
        {"role": "system", "content": JUDGE_INSTRUCTIONS},
        {"role": "user", "content": question},
    ]
    return parse_score(client.chat(judge, messages, {"temperature": 0}))


def setting(flag, variable, default=None):
    return flag or os.environ.get(variable) or default


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--release-dir", help="default: $MODELOPS_RELEASE_DIR")
    parser.add_argument("--dataset", help="default: $MODELOPS_DATASET")
    parser.add_argument("--judge", help="default: $MODELOPS_JUDGE")
    parser.add_argument("--out", help="default: $MODELOPS_SCORES")
    args = parser.parse_args()

    # `--release-dir` names the whole release; the variables may name each file.
    release_dir = setting(args.release_dir, "MODELOPS_RELEASE_DIR")
    environ = {} if args.release_dir else os.environ

    def release_path(variable, name):
        default = os.path.join(release_dir, name) if release_dir else None
        return environ.get(variable) or default

    prompt_file = release_path("MODELOPS_PROMPT_FILE", "system-prompt.txt")
    params_file = release_path("MODELOPS_PARAMS_FILE", "params.json")
    release_file = release_path("MODELOPS_RELEASE_FILE", "release.json")
    dataset = setting(args.dataset, "MODELOPS_DATASET")
    judge = setting(args.judge, "MODELOPS_JUDGE")
    out = setting(args.out, "MODELOPS_SCORES")
    missing = [
        name
        for name, value in [
            ("--release-dir (or MODELOPS_RELEASE_DIR)", prompt_file and params_file and release_file),
            ("--dataset (or MODELOPS_DATASET)", dataset),
            ("--judge (or MODELOPS_JUDGE)", judge),
            ("--out (or MODELOPS_SCORES)", out),
        ]
        if not value
    ]
    if missing:
        raise EvalError("missing " + ", ".join(missing))
    try:
        timeout = float(os.environ.get("MODELOPS_EVAL_TIMEOUT", "60"))
    except ValueError:
        timeout = 0.0
    if not 0 < timeout < float("inf"):
        raise EvalError("MODELOPS_EVAL_TIMEOUT must be a positive number of seconds")

    system_prompt = read_text(prompt_file, "system prompt")
    params = read_json(params_file, "params file")
    if not isinstance(params, dict):
        raise EvalError(f"the params file `{params_file}` is not a JSON object")
    release = read_json(release_file, "release file")
    base = environ.get("MODELOPS_BASE_MODEL")
    if not base and isinstance(release, dict):
        base = (release.get("base") or {}).get("id")
    if not base:
        raise EvalError(f"no base model: set MODELOPS_BASE_MODEL or give `{release_file}` one")
    items = read_dataset(dataset)

    client = Client(os.environ.get("MODELOPS_PROVIDER_URL"), timeout)
    scores = []
    for item in items:
        messages = [{"role": "user", "content": str(item["input"])}]
        if system_prompt:
            messages.insert(0, {"role": "system", "content": system_prompt})
        answer = client.chat(base, messages, openai_params(params))
        scores.append({"id": item["id"], "score": grade(client, judge, item, answer)})

    # Written once every item is scored, so a failed run leaves no partial file.
    try:
        with open(out, "w", encoding="utf-8") as file:
            file.writelines(json.dumps(score) + "\n" for score in scores)
    except OSError as error:
        raise EvalError(f"cannot write `{out}`: {error.strerror}") from None
    mean = sum(s["score"] for s in scores) / len(scores)
    track = os.environ.get("MODELOPS_TRACK", "release")
    print(f"{track} ({base}): mean {mean:.3f} over {len(scores)} items -> {out}", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except EvalError as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit(130)
