"""Targets as given on the command line: `NAME=URL[,OPTION=VALUE...]`, parsed and checked.

Option names are checked against the API's own list (for Ollama, the official client's
`ollama.Options`; for OpenAI-compatible servers, OPENAI_OPTIONS), so a typo is an error instead of
an option the server silently ignores. A few keys configure obench itself rather than the server
(RESERVED_KEYS: `api=`, `images=`). A second target written
after a comma is caught and the right syntax shown. Credentials in a URL are taken out of it:
the URL keeps `user:***@` (a user given alone, usually a token: `***@`) for printing and storing,
the secret goes to an excluded field.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote, urlsplit

import ollama
import pydantic
from pydantic import SecretStr

from ollama_bench.errors import UsageError
from ollama_bench.models import Api, TargetSpec

DEFAULT_TARGETS = ("gpu=http://localhost:11434", "cpu=http://localhost:11435")
DEFAULT_PORT = 11434

#: Keys of NAME=URL,KEY=VALUE that configure obench for this target rather than being request
#: options; each API's valid option names are checked apart (`option_names`).
#: `api=ollama|openai`: the API the server speaks (ollama by default); `images=true|false`:
#: false sends each prompt without its image.
RESERVED_KEYS: frozenset[str] = frozenset({"api", "images"})
APIS: tuple[Api, ...] = ("ollama", "openai")
#: Extra request fields an OpenAI-compatible target may be given: OpenAI's sampling fields and
#: the ones llama.cpp and vLLM add. temperature, seed and max_tokens override the run's flags.
OPENAI_OPTIONS = frozenset(
    {
        "temperature",
        "seed",
        "max_tokens",
        "top_p",
        "top_k",
        "min_p",
        "typical_p",
        "frequency_penalty",
        "presence_penalty",
        "repeat_penalty",
        "repetition_penalty",
        "repeat_last_n",
        "stop",
        "min_tokens",
        "ignore_eos",
        "cache_prompt",
        "n_probs",
        "logprobs",
        "top_logprobs",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
    }
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_USERINFO = re.compile(r"(?<=//)([^/@:]*)(:[^/@]*)?@")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:\d+(/.*)?$")


def option_names(api: str = "ollama") -> frozenset[str]:
    """Request options the API accepts: for Ollama, the fields of the official client's Options;
    for an OpenAI-compatible server, the extra request fields of OPENAI_OPTIONS."""
    return OPENAI_OPTIONS if api == "openai" else frozenset(ollama.Options.model_fields)


def mask_credentials(text: str) -> str:
    """`text` with any URL password, or user given without one (a token), made `***`, for
    messages.

    >>> mask_credentials("gpu=http://alice:s3cret@box:11434,num_gpu=0")
    'gpu=http://alice:***@box:11434,num_gpu=0'
    >>> mask_credentials("gpu=https://sk-live-abc123@proxy:443")
    'gpu=https://***@proxy:443'
    """
    return _USERINFO.sub(lambda m: f"{m[1]}:***@" if m[2] is not None else "***@", text)


def normalise_url(url: str, api: Api = "ollama") -> str:
    """Base URL as the official client builds it: scheme http and port 11434 unless given;
    a password, or a user given without one (a token), becomes `***` (see `split_credentials`).

    An OpenAI-compatible server keeps its scheme's port, and a trailing `/v1` (how its base URL
    is usually written) is dropped: obench adds `/v1/...` itself and also asks `/props`.

    >>> normalise_url("localhost")
    'http://localhost:11434'
    >>> normalise_url("https://box.lan:8443/")
    'https://box.lan:8443'
    >>> normalise_url("http://alice:s3cret@box.lan")
    'http://alice:***@box.lan:11434'
    >>> normalise_url("https://sk-live-abc123@proxy:443", "openai")
    'https://***@proxy:443'
    >>> normalise_url("http://box.lan/v1/", "openai")
    'http://box.lan:80'
    """
    text = url.strip().rstrip("/")
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {mask_credentials(url)!r}")
    path = parts.path
    port = parts.port or DEFAULT_PORT
    if api == "openai":
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = path.removesuffix("/v1")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    user = ""
    if parts.password is not None:
        user = f"{parts.username}:***@"
    elif parts.username:
        user = "***@"
    return f"{parts.scheme}://{user}{host}:{port}{path}"


def split_credentials(url: str) -> tuple[SecretStr | None, SecretStr | None]:
    """The secrets given in `url`: (a user given without a password, as written; the password,
    percent-decoded), each None when absent."""
    text = url.strip() if "://" in url else f"http://{url.strip()}"
    parts = urlsplit(text)
    if parts.password is not None:
        return None, SecretStr(unquote(parts.password))
    return (SecretStr(parts.username) if parts.username else None), None


def _option_value(text: str) -> Any:
    """`0` → 0, `0.5` → 0.5, `true` → True, anything else stays a string."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, (int, float, bool)) else text


def _looks_like_target(key: str, value: str) -> bool:
    """`cpu=http://b:11435` after a comma: an unknown key whose value is a URL or host:port."""
    known = option_names("ollama") | option_names("openai") | RESERVED_KEYS
    if key in known or not _NAME.match(key):
        return False
    return "://" in value or bool(_HOST_PORT.match(value))


def _second_target(spec: str, parts: list[str], index: int) -> UsageError:
    first = mask_credentials(",".join(parts[:index]))
    second = mask_credentials(",".join(parts[index:]))
    return UsageError(
        f"target {mask_credentials(spec)!r}: {mask_credentials(parts[index])!r} is a second "
        "target, not an option",
        f"give each its own --target: --target {first} --target {second} "
        "(in OBENCH_TARGETS, separate them with spaces)",
    )


def _parse_options(spec: str, parts: list[str], example: str) -> dict[str, Any]:
    """The KEY=VALUE options after the target's head (`parts[0]`), values typed; a second
    target written after a comma is refused with the right syntax."""
    options: dict[str, Any] = {}
    for index, text in enumerate(parts[1:], start=1):
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"target {mask_credentials(spec)!r}: option {mask_credentials(text)!r} is not "
                "KEY=VALUE",
                example,
            )
        if _looks_like_target(key.strip(), value.strip()):
            raise _second_target(spec, parts, index)
        options[key.strip()] = _option_value(value.strip())
    return options


def _check_name(spec: str, name: str) -> None:
    if not _NAME.match(name):
        raise UsageError(
            f"target {mask_credentials(spec)!r}: name {name!r} must be letters, digits, "
            "'.', '_' or '-'"
        )


def _check_options(spec: str, options: dict[str, Any], api: str = "ollama") -> None:
    valid = option_names(api)
    for key in options:
        if key not in valid and key not in RESERVED_KEYS:
            what = "Ollama options" if api == "ollama" else "OpenAI-compatible request fields"
            raise UsageError(
                f"target {mask_credentials(spec)!r}: unknown option {key!r}",
                f"{what} are: {', '.join(sorted(valid))}; obench's own: api=, images=",
            )
    if api != "ollama":
        return
    try:
        ollama.Options.model_validate({k: v for k, v in options.items() if k in valid})
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0])
        raise UsageError(
            f"target {mask_credentials(spec)!r}: option {key}={options[key]!r}: {error['msg']}"
        ) from None


def parse_target(spec: str, headers: dict[str, SecretStr] | None = None) -> TargetSpec:
    """`NAME=URL[,OPTION=VALUE...]`, a bare URL named after its host and port, or `NAME=ocr`.

    >>> parse_target("cpu=http://localhost:11434,num_gpu=0,num_thread=8").options
    {'num_gpu': 0, 'num_thread': 8}
    >>> parse_target("box.lan:11435").name
    'box.lan-11435'
    """
    parts = [part.strip() for part in spec.split(",")]
    head = parts[0]
    name, sep, url = head.partition("=")
    if not sep or "://" in name or (":" in name and not url):
        name, url = "", head
    if name and url.strip().lower() == "ocr":
        return _ocr_target(spec, name, parts)
    options = _parse_options(spec, parts, "e.g. gpu=http://h:11434,num_gpu=0")
    api, images = _reserved(spec, options)
    try:
        base = normalise_url(url, api)
    except ValueError:
        raise UsageError(
            f"target {mask_credentials(spec)!r}: {mask_credentials(url)!r} is not a URL",
            "use NAME=URL, e.g. gpu=http://localhost:11434",
        ) from None
    if not name:
        where = urlsplit(base)
        name = f"{where.hostname}-{where.port}"
    _check_name(spec, name)
    _check_options(spec, options, api)
    lone_user, password = split_credentials(url)
    return TargetSpec(
        name=name,
        url=base,
        options=options,
        api=api,
        images=images,
        password=password,
        lone_user=lone_user,
        headers=headers or {},
    )


def _ocr_target(spec: str, name: str, parts: list[str]) -> TargetSpec:
    """`NAME=ocr[,threads=N]`: the in-process OCR baseline (targets/ocr.py), no URL."""
    from ollama_bench.targets.ocr import IN_PROCESS, ocr_options

    _check_name(spec, name)
    options = _parse_options(spec, parts, "e.g. ocr=ocr,threads=1")
    return TargetSpec(name=name, url=IN_PROCESS, options=ocr_options(spec, options), api="ocr")


def _reserved(spec: str, options: dict[str, Any]) -> tuple[Api, bool]:
    """Take obench's own keys out of `options` (what is left goes to the server).

    >>> options = {"api": "openai", "images": False, "top_k": 40}
    >>> _reserved("t", options), options
    (('openai', False), {'top_k': 40})
    """
    api, images = options.pop("api", "ollama"), options.pop("images", True)
    if api not in APIS:
        raise UsageError(
            f"target {mask_credentials(spec)!r}: api={api} is not one of {', '.join(APIS)}",
            "api=openai for llama-server, vLLM, LM Studio or Ollama's /v1; api=ollama otherwise",
        )
    if not isinstance(images, bool):
        raise UsageError(f"target {mask_credentials(spec)!r}: images={images} is not true or false")
    return api, images


def parse_targets(
    specs: list[str], headers: dict[str, SecretStr] | None = None
) -> list[TargetSpec]:
    """Every --target, each given the --header values to send on every call."""
    targets = [parse_target(s, headers) for s in specs]
    names = [t.name for t in targets]
    if duplicated := sorted({n for n in names if names.count(n) > 1}):
        raise UsageError(
            f"target name {duplicated[0]!r} is used twice", "give each --target its own NAME="
        )
    return targets
