#!/usr/bin/env python3
"""The modelops reference serving container: LiteLLM's proxy serving one release.

Reads what modelops mounts at $MODELOPS_CONFIG_DIR (default /etc/modelops):

  release.json       the release: model name, release, environment, base model, ...
  system-prompt.txt  the rendered system prompt
  params.json        the release's params, under modelops' names (`top-p`, `max-tokens`)

writes a LiteLLM proxy config that serves the model under its modelops name, and
runs `litellm` on port 8080. The contract it honours is docs/serving.md.

The config has one `model_list` entry, `model_name: <model>`, calling the release's
base model through LiteLLM's client for its provider, with:

  - the params as request defaults (a request's own value wins);
  - the system prompt as `litellm_system_prompt`, which LiteLLM puts first in every
    request's messages (merged into the request's own system message if it has one);
  - the vendor key as `os.environ/<VARIABLE>`: LiteLLM reads it from the environment
    when it loads the config, so the key is never written to a file;
  - the callbacks of modelops_callbacks.py: the modelops_* metrics on /metrics.

Usage:
  entrypoint.py                      write the config, then run the proxy on 8080
  entrypoint.py --config-only FILE   write the config to FILE (`-` for stdout), exit

Options (for tests and local runs; the container uses the defaults):
  --config-dir DIR    instead of $MODELOPS_CONFIG_DIR
  --host HOST         default 0.0.0.0
  --port PORT         default 8080, the port the manifests name `http`

Environment:
  MODELOPS_CONFIG_DIR    where modelops mounts the ConfigMap (the manifests set it)
  MODELOPS_MODEL, MODELOPS_RELEASE   set by the manifests; must match release.json
  MODELOPS_PROVIDER_URL  an OpenAI-compatible API to call instead of the provider's
                         own (as in evals/run.py): the base model is called as
                         `openai/<id>` at that URL. For a test stub, or a
                         self-hosted model server next to this container.
  MODELOPS_API_KEY_ENV   the variable that holds the vendor key, when it is not the
                         provider's usual one (see KEY_VARIABLES)
  MODELOPS_LITELLM_CONFIG  where to write the config (default
                         /tmp/modelops-litellm/config.yaml)

Exit status: 0 (or the proxy's), 2 for a configuration it cannot serve, with one
line on stderr saying why.
"""

import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# The port the generated Deployments and Services name `http`
# (src/target/kubernetes.rs, PORT).
PORT = 8080

# modelops provider (the `<provider>/` of a base id) -> LiteLLM's provider prefix.
PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure-openai": "azure",
    "vertex": "vertex_ai",
    "bedrock": "bedrock",
    "huggingface": "huggingface",
}

# The variable holding each provider's key: the name to give the release's
# `secret` (`secret "OPENAI_API_KEY" from="llm-keys" key="openai"`). Vertex AI and
# Bedrock authenticate through their SDKs' own variables (GOOGLE_APPLICATION_CREDENTIALS
# or VERTEXAI_PROJECT/VERTEXAI_LOCATION; AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
# AWS_REGION_NAME), which LiteLLM reads itself.
KEY_VARIABLES = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "azure-openai": "AZURE_API_KEY",
    "huggingface": "HF_TOKEN",
}

# Release params whose OpenAI name is not the kebab-case name with underscores
# (the same table as evals/run.py, so the gate scores what the container serves).
PARAM_NAMES = {"stop-sequences": "stop", "max-output-tokens": "max_tokens"}

CALLBACKS = "modelops_callbacks.handler"

# The key sent to a MODELOPS_PROVIDER_URL server when no variable holds one.
NO_KEY = "modelops-no-key"


class ServingError(Exception):
    """A configuration this container cannot serve: one clear line on stderr."""


def read_text(path, what):
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as error:
        raise ServingError(f"cannot read the {what} `{path}`: {error.strerror}") from None


def read_json(path, what):
    try:
        return json.loads(read_text(path, what))
    except ValueError as error:
        raise ServingError(f"the {what} `{path}` is not JSON: {error}") from None


def read_release(config_dir):
    """release.json, system-prompt.txt and params.json of `config_dir`."""
    release = read_json(os.path.join(config_dir, "release.json"), "release file")
    if not isinstance(release, dict):
        raise ServingError("release.json is not a JSON object")
    for field in ("model", "release"):
        if not isinstance(release.get(field), str) or not release[field]:
            raise ServingError(f"release.json has no `{field}`")
    params = read_json(os.path.join(config_dir, "params.json"), "params file")
    if not isinstance(params, dict):
        raise ServingError("params.json is not a JSON object")
    prompt = read_text(os.path.join(config_dir, "system-prompt.txt"), "system prompt")
    return release, prompt, params


def check_environment(release, environ):
    """The manifests' MODELOPS_MODEL and MODELOPS_RELEASE name the same release as
    release.json: a mismatch means the pod mounts another track's ConfigMap."""
    for variable, field in (("MODELOPS_MODEL", "model"), ("MODELOPS_RELEASE", "release")):
        value = environ.get(variable)
        if value is not None and value != release[field]:
            raise ServingError(
                f"{variable}={value} but release.json says {field} `{release[field]}`"
            )


def base_model(release, environ):
    """The LiteLLM `model`, `api_base` (or None) and key variable (or None) that
    call the release's base model."""
    base = release.get("base")
    if not isinstance(base, dict) or not isinstance(base.get("id"), str):
        raise ServingError("release.json has no `base.id`: the release names no base model")
    provider, _, model = base["id"].partition("/")
    if not model:
        raise ServingError(f"`{base['id']}` is not a `<provider>/<model>` id")
    override = environ.get("MODELOPS_PROVIDER_URL")
    key_variable = environ.get("MODELOPS_API_KEY_ENV") or KEY_VARIABLES.get(provider)
    if override:
        return f"openai/{model}", override.rstrip("/"), key_variable
    if provider == "self-hosted":
        raise ServingError(
            f"`{base['id']}` is self-hosted: this container only proxies; set "
            "MODELOPS_PROVIDER_URL to the OpenAI-compatible server that runs it"
        )
    if provider == "huggingface" and base.get("revision"):
        raise ServingError(
            f"`{base['id']}` is pinned to revision {base['revision']}, which LiteLLM's "
            "Hugging Face client cannot select; serve it from a model server and set "
            "MODELOPS_PROVIDER_URL"
        )
    if provider not in PROVIDERS:
        raise ServingError(f"no LiteLLM provider known for `{provider}` (`{base['id']}`)")
    return f"{PROVIDERS[provider]}/{model}", None, key_variable


# What a release param may not set: the deployment's own settings and the request's
# shape.
RESERVED = {"model", "messages", "stream", "api_base", "base_url", "api_key", "litellm_system_prompt"}


def litellm_params(params):
    """The release's params under their OpenAI names (`top-p` -> `top_p`)."""
    named = {PARAM_NAMES.get(name, name.replace("-", "_")): value for name, value in params.items()}
    for name in sorted(RESERVED.intersection(named)):
        raise ServingError(f"params.json sets `{name}`, which is not a model parameter")
    return named


def proxy_config(release, prompt, params, environ):
    """The LiteLLM proxy config (a dict) that serves `release`."""
    model, api_base, key_variable = base_model(release, environ)
    entry = {"model": model}
    entry.update(litellm_params(params))
    if api_base:
        entry["api_base"] = api_base
    if key_variable:
        # Resolved by LiteLLM from the environment when it loads the config.
        entry["api_key"] = f"os.environ/{key_variable}"
    elif api_base:
        # A server of one's own that wants no key: LiteLLM's OpenAI client sends
        # one all the same, so it gets this fixed value rather than falling back
        # to an OPENAI_API_KEY of the environment.
        entry["api_key"] = NO_KEY
    if prompt.strip():
        entry["litellm_system_prompt"] = prompt
    return {
        "model_list": [
            {
                "model_name": release["model"],
                "litellm_params": entry,
                "model_info": {"id": f"{release['model']}-{release['release']}"},
            }
        ],
        "litellm_settings": {
            # `prometheus` mounts /metrics (the default registry, where the
            # modelops_* metrics live too); modelops_callbacks records them.
            "callbacks": ["prometheus", CALLBACKS],
            "require_auth_for_metrics_endpoint": False,
        },
        # No master key: the serving contract has no credential on the in-cluster
        # hop (the gateway sends a fixed placeholder, smoke requests send none), so
        # the proxy must accept requests without one. Keep the pods reachable only
        # from the gateway or mesh (a NetworkPolicy); see docs/serving.md.
        "general_settings": {"dangerously_permit_weak_or_unset_master_key": True},
    }


def write_config(config, path):
    # JSON is YAML: LiteLLM reads it with its YAML loader, and no YAML library is
    # needed here.
    text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-dir", default=os.environ.get("MODELOPS_CONFIG_DIR", "/etc/modelops"))
    parser.add_argument("--config-only", metavar="FILE")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args(argv)

    environ = os.environ
    try:
        release, prompt, params = read_release(args.config_dir)
        check_environment(release, environ)
        config = proxy_config(release, prompt, params, environ)
        if args.config_only:
            write_config(config, args.config_only)
            return 0
        key = config["model_list"][0]["litellm_params"].get("api_key", "")
        key_variable = key.removeprefix("os.environ/") if key.startswith("os.environ/") else ""
        if key_variable and not environ.get(key_variable):
            raise ServingError(
                f"{key_variable} is not set: give the release "
                f'`secret "{key_variable}" from="<secret>" key="<key>"`'
            )
        litellm = shutil.which("litellm")
        if litellm is None:
            raise ServingError("`litellm` is not on PATH (the LiteLLM image has it)")
    except ServingError as error:
        print(f"modelops serving: {error}", file=sys.stderr)
        return 2

    path = environ.get("MODELOPS_LITELLM_CONFIG", "/tmp/modelops-litellm/config.yaml")
    write_config(config, path)
    # What the metrics callbacks label their series with, and where LiteLLM finds
    # the callback module.
    os.environ["MODELOPS_MODEL"] = release["model"]
    os.environ["MODELOPS_RELEASE"] = release["release"]
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (HERE, os.environ.get("PYTHONPATH")) if p
    )
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    command = [litellm, "--config", path, "--host", args.host, "--port", str(args.port)]
    sys.stdout.flush()
    os.execv(litellm, command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
