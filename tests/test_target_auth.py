"""Servers behind authentication: credentials in the URL become Basic auth,
--header is sent on every call including the probe, OLLAMA_API_KEY is honoured everywhere, and
no secret is ever printed or stored."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_ollama import FakeOllama
from test_cli_vision import answer_from_labels, make_images, run_cli
from typer.testing import CliRunner

from ollama_bench.cli import app

Make = Callable[..., FakeOllama]
SECRET = "s3cret-Pa55"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def assert_secret_nowhere(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text


def test_url_credentials_are_sent_as_basic_auth_and_masked(
    fake_ollama: Make, tmp_path: Path
) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply=answer_from_labels(images), require_auth=basic("alice", SECRET))
    url = server.url.replace("http://", f"http://alice:{SECRET}@")
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"gpu={url}", "--images", str(images), "--runs", "1"),
        *("--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    assert {path for path, _ in server.headers} >= {"/api/version", "/api/tags", "/api/chat"}
    assert all(h.get("authorization") == basic("alice", SECRET) for _, h in server.headers)
    masked = server.url.replace("http://", "http://alice:***@")
    assert masked in out.read_text() and masked in result.stderr
    assert_secret_nowhere(out.read_text(), result.stdout, result.stderr)


def test_headers_go_with_every_call_and_are_never_stored(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply=answer_from_labels(images), require_auth=f"Bearer {SECRET}")
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"gpu={server.url}", "--images", str(images), "--runs", "1"),
        *("--header", f"Authorization: Bearer {SECRET}", "--header", "X-Proxy-Tenant: lab-7"),
        *("--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    assert {p for p, _ in server.headers} >= {"/api/version", "/api/tags", "/api/show"}
    assert all(h.get("x-proxy-tenant") == "lab-7" for _, h in server.headers)
    assert_secret_nowhere(out.read_text(), result.stdout, result.stderr)
    assert "lab-7" not in out.read_text()


def test_headers_from_the_environment_one_per_line(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply=answer_from_labels(images), require_auth=f"Bearer {SECRET}")
    result = CliRunner().invoke(
        app,
        [
            *("vision", "--target", f"gpu={server.url}", "--images", str(images)),
            *("--runs", "1", "--out", str(tmp_path / "r.jsonl"), "--json"),
        ],
        env={"OBENCH_HEADERS": f"Authorization: Bearer {SECRET}\nX-Proxy-Tenant: lab 7"},
    )
    assert result.exit_code == 0, result.output
    assert all(h.get("x-proxy-tenant") == "lab 7" for _, h in server.headers)


def test_ollama_api_key_is_sent_on_the_probe_too(
    fake_ollama: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply=answer_from_labels(images), require_auth=f"Bearer {SECRET}")
    monkeypatch.setenv("OLLAMA_API_KEY", SECRET)
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"gpu={server.url}", "--images", str(images), "--runs", "1"),
        *("--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    version = [h for p, h in server.headers if p == "/api/version"]
    assert version and version[0]["authorization"] == f"Bearer {SECRET}"
    assert_secret_nowhere(out.read_text(), result.stdout, result.stderr)


def test_doctor_and_pull_send_the_headers(fake_ollama: Make) -> None:
    server = fake_ollama(require_auth=f"Bearer {SECRET}")
    for command in ("doctor", "pull"):
        result = CliRunner().invoke(
            app,
            [
                command,
                "--target",
                f"gpu={server.url}",
                "--header",
                f"Authorization: Bearer {SECRET}",
            ],
        )
        assert result.exit_code in (0, 1), result.output  # 1: doctor's "not loaded" note is fine
        assert_secret_nowhere(result.stdout, result.stderr)
    assert all(h.get("authorization") == f"Bearer {SECRET}" for _, h in server.headers)


def test_a_password_in_a_target_never_reaches_a_usage_error() -> None:
    result = run_cli("--target", f"gpu=http://alice:{SECRET}@box.lan:1,bogus=1")
    assert result.exit_code == 2
    assert "alice:***@" in result.stderr
    assert_secret_nowhere(result.stdout, result.stderr)
