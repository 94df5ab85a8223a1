"""Targets as given on the command line: `NAME=URL[,OPTION=VALUE...]`, parsed and checked."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from ollama_bench.errors import UsageError
from ollama_bench.models import TargetSpec

DEFAULT_TARGETS = ("gpu=http://localhost:11434", "cpu=http://localhost:11435")
DEFAULT_PORT = 11434

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def normalise_url(url: str) -> str:
    """Base URL as the official client builds it: scheme http and port 11434 unless given.

    >>> normalise_url("localhost")
    'http://localhost:11434'
    >>> normalise_url("https://box.lan:8443/")
    'https://box.lan:8443'
    """
    text = url.strip().rstrip("/")
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or DEFAULT_PORT
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}{parts.path}"


def _option_value(text: str) -> Any:
    """`0` → 0, `0.5` → 0.5, `true` → True, anything else stays a string."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, (int, float, bool)) else text


def parse_target(spec: str) -> TargetSpec:
    """`NAME=URL[,OPTION=VALUE...]`, a bare URL named after its host and port, or `NAME=ocr`.

    >>> parse_target("cpu=http://localhost:11434,num_gpu=0,num_thread=8").options
    {'num_gpu': 0, 'num_thread': 8}
    >>> parse_target("box.lan:11435").name
    'box.lan-11435'
    """
    head, *option_texts = [part.strip() for part in spec.split(",")]
    name, sep, url = head.partition("=")
    if not sep or "://" in name or (":" in name and not url):
        name, url = "", head
    if url.strip().lower() == "ocr" and name:
        return _ocr_target(spec, name, option_texts)
    try:
        base = normalise_url(url)
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
    return TargetSpec(name=name, url=base, options=_options(spec, option_texts))


def _options(spec: str, option_texts: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for text in option_texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"target {spec!r}: option {text!r} is not KEY=VALUE",
                "e.g. gpu=http://h:11434,num_gpu=0",
            )
        options[key.strip()] = _option_value(value.strip())
    return options


def _ocr_target(spec: str, name: str, option_texts: list[str]) -> TargetSpec:
    """`NAME=ocr[,threads=N]`: the in-process OCR baseline (targets/ocr.py), no URL."""
    from ollama_bench.targets.ocr import IN_PROCESS, ocr_options

    if not _NAME.match(name):
        raise UsageError(f"target {spec!r}: name {name!r} must be letters, digits, '.', '_' or '-'")
    options = ocr_options(spec, _options(spec, option_texts))
    return TargetSpec(name=name, url=IN_PROCESS, options=options, api="ocr")


def parse_targets(specs: list[str]) -> list[TargetSpec]:
    targets = [parse_target(s) for s in specs]
    names = [t.name for t in targets]
    if duplicated := sorted({n for n in names if names.count(n) > 1}):
        raise UsageError(
            f"target name {duplicated[0]!r} is used twice", "give each --target its own NAME="
        )
    return targets
