"""OpenAI-compatible targets through the CLI: vision (with and without images), report, doctor,
pull, and the reserved target keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_ollama import FakeOllama
from fake_openai import FakeOpenAI
from typer.testing import CliRunner

from ollama_bench.cli import app
from ollama_bench.errors import UsageError
from ollama_bench.targets.spec import parse_target

MakeOpenAI = Callable[..., FakeOpenAI]
MakeOllama = Callable[..., FakeOllama]
CCTV = '{"title": "CAM 01", "datetime": "2024-11-20T15:45:12", "traffic_level": 20}'


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_reserved_keys_are_parsed_out_of_the_options() -> None:
    spec = parse_target("real=http://127.0.0.1:8080/v1,api=openai,images=false,top_k=40")
    assert (spec.api, spec.images, spec.options) == ("openai", False, {"top_k": 40})
    assert spec.url == "http://127.0.0.1:8080"
    assert parse_target("gpu=http://h:11434").api == "ollama"
    assert parse_target("v=https://vllm.lan,api=openai").url == "https://vllm.lan:443"
    with pytest.raises(UsageError, match="api=grpc is not one of ollama, openai"):
        parse_target("x=http://h:1,api=grpc")
    with pytest.raises(UsageError, match="images=maybe is not true or false"):
        parse_target("x=http://h:1,images=maybe")


def test_text_only_run_on_an_openai_server(fake_openai: MakeOpenAI, tmp_path: Path) -> None:
    server = fake_openai(reply=CCTV, prompt_eval_s=0.02, token_delay_s=0.002)
    out = tmp_path / "run.jsonl"
    target = f"real={server.url},api=openai,images=false"
    args = ["vision", "-t", target, "--model", "smollm2", "--runs", "1", "-q", "--out", str(out)]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    (only,) = summary["targets"]
    assert (only["api"], only["server"], only["images"]) == ("openai", "llama.cpp", False)
    assert only["response_format"] == "json_schema"
    assert only["failed"] == 0 and only["valid_rate"] == 1.0
    assert set(only["accuracy"].values()) == {None}  # no image: no accuracy to compare
    assert only["unreported"] == ["gap_s", "cold_load_s"]
    assert only["decode_tokens_per_s"]["n"] == only["samples"] == 6
    header = lines(out)[0]
    info = header["targets"][0]
    assert (info["api"], info["images"], info["response_format"]) == (
        "openai",
        False,
        "json_schema",
    )
    assert all(
        isinstance(body["messages"][0]["content"], str) for body in server.chats()[1:]
    )  # after the probe's text request, every request went without its image
    assert not any(
        r["kind"] == "sample" and r["timing"]["server"]["total_duration_ns"]
        for r in lines(out)[1:-1]
    )
    # validated, never scored: a reply to no image has nothing it could be right about
    stored = [r for r in lines(out) if r["kind"] == "sample"]
    assert all(r["validation"]["valid"] and r["score"] is None for r in stored)
    shown = invoke("report", str(out))
    assert shown.exit_code == 0, shown.output
    assert "not reported by this server" in shown.output and "text only" in shown.output
    assert "Accuracy by field" not in shown.output


def test_vision_against_ollama_and_openai_side_by_side(
    fake_openai: MakeOpenAI, fake_ollama: MakeOllama, tmp_path: Path
) -> None:
    openai_server = fake_openai(reply=CCTV, token_delay_s=0.004, timings=False, props=False)
    ollama_server = fake_ollama(reply=CCTV, token_delay_s=0.001)
    targets = ["-t", f"cpu={ollama_server.url}", "-t", f"vllm={openai_server.url},api=openai"]
    result = invoke("vision", *targets, "--runs", "1", "-q", "--json", "--out", str(tmp_path))
    # the stand-in serves smollm2 only: the OpenAI target is left out (exit 4), the Ollama one runs
    assert result.exit_code == 4, result.output
    by_name = {t["name"]: t for t in json.loads(result.stdout)["targets"]}
    assert not by_name["vllm"]["usable"] and by_name["cpu"]["samples"] == 6
    openai_server.config.models = ["llama3.2-vision:latest"]  # as Ollama's /v1 lists it
    result = invoke("vision", *targets, "--runs", "1", "-q", "--out", str(tmp_path / "again"))
    assert result.exit_code == 0, result.output
    assert "not reported by this server" in result.output  # vLLM-like: no timings
    assert "Speed-up" in result.output
    images = [b["messages"][0]["content"] for b in openai_server.chats()[1:]]
    assert all(part[1]["type"] == "image_url" for part in images)


def test_doctor_says_why_placement_is_unknown(fake_openai: MakeOpenAI) -> None:
    server = fake_openai()
    result = invoke("doctor", "-t", f"gpu={server.url},api=openai", "--model", "smollm2")
    assert result.exit_code == 0, result.output
    assert "unknown (not reported)" in result.output and "GPU or the CPU" in result.output
    assert "llama.cpp b1-0c1e570" in result.output and "served" in result.output
    result = invoke("doctor", "-t", f"gpu={server.url},api=openai", "--json")
    assert result.exit_code == 3
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["code"] == "model-missing" and "smollm2" in finding["hint"]


def test_pull_says_an_openai_server_has_nothing_to_pull(fake_openai: MakeOpenAI) -> None:
    server = fake_openai()
    result = invoke("pull", "-q", "-t", f"real={server.url},api=openai", "--model", "smollm2")
    assert result.exit_code == 0, result.output
    assert "nothing to pull" in result.output
    assert server.requests == []
