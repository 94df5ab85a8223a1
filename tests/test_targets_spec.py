"""Target specs, model names and version gates: pure parsing, no server."""

from __future__ import annotations

import base64

import pytest

from ollama_bench.errors import UsageError
from ollama_bench.targets.auth import request_headers
from ollama_bench.targets.ollama import canonical_model, mllama_version_warning
from ollama_bench.targets.spec import mask_credentials, normalise_url, parse_target, parse_targets


def test_named_target_with_options() -> None:
    spec = parse_target("cpu=http://localhost:11434,num_gpu=0,num_thread=8,use_mmap=false,top_k=20")
    assert spec.name == "cpu"
    assert spec.url == "http://localhost:11434"
    assert spec.options == {"num_gpu": 0, "num_thread": 8, "use_mmap": False, "top_k": 20}


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


# -- a second target after a comma, unknown options ------------------------------------------


@pytest.mark.parametrize(
    "text", ["gpu=http://a:11434,cpu=http://b:11435", "gpu=http://a:11434,num_gpu=1,cpu=b:11435"]
)
def test_comma_separated_second_target_shows_the_right_syntax(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_target(text)
    message = raised.value.message + " — " + raised.value.hint
    assert "second target" in message and "--target gpu=" in message and "--target cpu=" in message


def test_unknown_option_lists_the_valid_ones() -> None:
    import ollama

    with pytest.raises(UsageError) as raised:
        parse_target("cpu=http://localhost:11434,nmu_gpu=0")
    assert "unknown option 'nmu_gpu'" in raised.value.message
    assert all(name in raised.value.hint for name in ollama.Options.model_fields)


def test_option_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(UsageError, match="num_gpu"):
        parse_target("cpu=http://localhost:11434,num_gpu=all")


# -- credentials and headers ------------------------------------------------------------------


def test_credentials_in_the_url_are_masked_and_kept_apart() -> None:
    spec = parse_target("gpu=https://alice:s3cret@box.lan:8443")
    assert spec.url == "https://alice:***@box.lan:8443"
    assert spec.endpoint == "https://box.lan:8443"
    assert "s3cret" not in spec.model_dump_json() and "s3cret" not in repr(spec)


def test_a_user_given_alone_is_a_token_masked_and_kept_apart() -> None:
    spec = parse_target("gpu=https://sk-live-abc123@proxy:443,api=openai")
    assert spec.url == "https://***@proxy:443" and spec.endpoint == "https://proxy:443"
    assert "sk-live" not in spec.model_dump_json() and "sk-live" not in repr(spec)
    token = base64.b64encode(b"sk-live-abc123:").decode()
    assert request_headers(spec)["Authorization"] == f"Basic {token}"
    assert mask_credentials("gpu=https://sk-live-abc123@proxy:443") == "gpu=https://***@proxy:443"
    with pytest.raises(UsageError) as raised:
        parse_target("gpu=https://sk-live-abc123@proxy:443,nope=1")
    assert "sk-live" not in raised.value.message + raised.value.hint


def test_usage_errors_never_show_a_password() -> None:
    with pytest.raises(UsageError) as raised:
        parse_target("gpu=http://alice:s3cret@box.lan:1,nope=1")
    text = raised.value.message + raised.value.hint
    assert "s3cret" not in text and "alice:***@" in text


@pytest.mark.parametrize("text", ["X-Token", "Bad Name: 1", ": nameless"])
def test_malformed_header_is_refused_without_showing_it(text: str) -> None:
    from ollama_bench.targets.auth import parse_header

    with pytest.raises(UsageError) as raised:
        parse_header(text + " s3cret")
    assert "s3cret" not in raised.value.message + raised.value.hint


def test_comma_separated_targets_in_the_environment_exit_2() -> None:
    from typer.testing import CliRunner

    from ollama_bench.cli import app

    env = {"OBENCH_TARGETS": "gpu=http://localhost:11434,cpu=http://localhost:11435"}
    result = CliRunner().invoke(app, ["vision"], env=env)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "OBENCH_TARGETS" in lines[0] and "spaces" in lines[0]
