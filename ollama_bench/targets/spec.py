"""Targets as given on the command line: `NAME=URL[,OPTION=VALUE...]`, parsed and checked.

Most options are passed on to the server. A few names are obench's own (RESERVED_KEYS): they say
how to talk to the target and are never sent.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from ollama_bench.errors import UsageError
from ollama_bench.models import Api, TargetSpec

DEFAULT_TARGETS = ("gpu=http://localhost:11434", "cpu=http://localhost:11435")
DEFAULT_PORT = 11434

#: Option keys that are obench's, not the server's: `api=ollama|openai` (the API the server
#: speaks; ollama by default) and `images=true|false` (false sends the prompt without the image).
RESERVED_KEYS = ("api", "images")
APIS: tuple[Api, ...] = ("ollama", "openai")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def normalise_url(url: str, api: Api = "ollama") -> str:
    """Base URL as the official client builds it: scheme http and port 11434 unless given.

    An OpenAI-compatible server keeps its scheme's port, and a trailing `/v1` (how its base URL
    is usually written) is dropped: obench adds `/v1/...` itself and also asks `/props`.

    >>> normalise_url("localhost")
    'http://localhost:11434'
    >>> normalise_url("https://box.lan:8443/")
    'https://box.lan:8443'
    >>> normalise_url("http://box.lan/v1/", "openai")
    'http://box.lan:80'
    """
    text = url.strip().rstrip("/")
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    path = parts.path
    if api == "openai":
        default_port = 443 if parts.scheme == "https" else 80
        path = path.removesuffix("/v1")
    port = parts.port or (DEFAULT_PORT if api == "ollama" else default_port)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}{path}"


def _option_value(text: str) -> Any:
    """`0` → 0, `0.5` → 0.5, `true` → True, anything else stays a string."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, (int, float, bool)) else text


def parse_target(spec: str) -> TargetSpec:
    """`NAME=URL[,OPTION=VALUE...]`, or a bare URL named after its host and port.

    >>> parse_target("cpu=http://localhost:11434,num_gpu=0,num_thread=8").options
    {'num_gpu': 0, 'num_thread': 8}
    >>> parse_target("box.lan:11435").name
    'box.lan-11435'
    """
    head, *option_texts = [part.strip() for part in spec.split(",")]
    name, sep, url = head.partition("=")
    if not sep or "://" in name or (":" in name and not url):
        name, url = "", head
    options: dict[str, Any] = {}
    for text in option_texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"target {spec!r}: option {text!r} is not KEY=VALUE",
                "e.g. gpu=http://h:11434,num_gpu=0",
            )
        options[key.strip()] = _option_value(value.strip())
    api, images = _reserved(spec, options)
    try:
        base = normalise_url(url, api)
    except ValueError:
        raise UsageError(
            f"target {spec!r}: {url!r} is not a URL",
            "use NAME=URL, e.g. gpu=http://localhost:11434",
        ) from None
    if not name:
        parts = urlsplit(base)
        name = f"{parts.hostname}-{parts.port}"
    if not _NAME.match(name):
        raise UsageError(f"target {spec!r}: name {name!r} must be letters, digits, '.', '_' or '-'")
    return TargetSpec(name=name, url=base, options=options, api=api, images=images)


def _reserved(spec: str, options: dict[str, Any]) -> tuple[Api, bool]:
    """Take obench's own keys out of `options` (what is left goes to the server).

    >>> options = {"api": "openai", "images": False, "top_k": 40}
    >>> _reserved("t", options), options
    (('openai', False), {'top_k': 40})
    """
    api, images = options.pop("api", "ollama"), options.pop("images", True)
    if api not in APIS:
        raise UsageError(
            f"target {spec!r}: api={api} is not one of {', '.join(APIS)}",
            "api=openai for llama-server, vLLM, LM Studio or Ollama's /v1; api=ollama otherwise",
        )
    if not isinstance(images, bool):
        raise UsageError(f"target {spec!r}: images={images} is not true or false")
    return api, images


def parse_targets(specs: list[str]) -> list[TargetSpec]:
    targets = [parse_target(s) for s in specs]
    names = [t.name for t in targets]
    if duplicated := sorted({n for n in names if names.count(n) > 1}):
        raise UsageError(
            f"target name {duplicated[0]!r} is used twice", "give each --target its own NAME="
        )
    return targets
