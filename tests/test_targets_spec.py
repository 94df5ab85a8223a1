"""Target specs, model names and version gates: pure parsing, no server."""

from __future__ import annotations

import pytest

from ollama_bench.errors import UsageError
from ollama_bench.targets.ollama import canonical_model, mllama_version_warning
from ollama_bench.targets.spec import normalise_url, parse_target, parse_targets


def test_named_target_with_options() -> None:
    spec = parse_target("cpu=http://localhost:11434,num_gpu=0,num_thread=8,use_mmap=false,note=x")
    assert spec.name == "cpu"
    assert spec.url == "http://localhost:11434"
    assert spec.options == {"num_gpu": 0, "num_thread": 8, "use_mmap": False, "note": "x"}


@pytest.mark.parametrize(
    ("text", "name", "url"),
    [
        ("gpu=localhost", "gpu", "http://localhost:11434"),
        ("box.lan:11435", "box.lan-11435", "http://box.lan:11435"),
        ("http://10.0.0.5:8080/", "10.0.0.5-8080", "http://10.0.0.5:8080"),
        ("remote=https://ollama.example.com", "remote", "https://ollama.example.com:11434"),
    ],
)
def test_url_forms(text: str, name: str, url: str) -> None:
    spec = parse_target(text)
    assert (spec.name, spec.url) == (name, url)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gpu=ftp://x", "not a URL"),
        ("gpu=http://x:1,num_gpu", "not KEY=VALUE"),
        ("g u=http://x:1", "must be letters"),
    ],
)
def test_bad_specs_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_target(text)


def test_duplicate_names_refused() -> None:
    with pytest.raises(UsageError, match="used twice"):
        parse_targets(["a=http://x:1", "a=http://y:2"])


def test_normalise_url_ipv6() -> None:
    assert normalise_url("http://[::1]") == "http://[::1]:11434"


@pytest.mark.parametrize(
    "name",
    ["llama3.2-vision", "llama3.2-vision:latest", "library/llama3.2-vision", "LLAMA3.2-VISION"],
)
def test_model_aliases(name: str) -> None:
    assert canonical_model(name) == "llama3.2-vision:latest"


def test_tags_are_not_aliased() -> None:
    assert canonical_model("llama3.2-vision:11b") != canonical_model("llama3.2-vision")


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("0.24.0", True),
        ("0.4.0", True),
        ("0.3.14", False),
        ("0.30.0", False),
        ("0.34.1", False),
        ("0.0.0", True),
        ("v0.12.3-rc1", True),
    ],
)
def test_mllama_version_gate(version: str, ok: bool) -> None:
    assert (mllama_version_warning(version) is None) is ok
