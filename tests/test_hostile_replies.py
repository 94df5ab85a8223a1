"""Replies and timings no honest server sends: each is recorded as what it is, none stops a run.

Here: a reply nested too deep to parse, a reply that would make an uncapped search for JSON
quadratic, probe answers of the wrong shape, megabytes of error text, a lone surrogate in streamed
content, server durations that cannot be true, and a stream held open after its final chunk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import samples_of
from fake_ollama import FakeOllama
from test_cli_vision import answer_from_labels, make_images, read_run, run_cli

from ollama_bench.models import (
    MAX_ERROR_CHARS,
    RequestError,
    RequestSettings,
    ServerTimings,
    TargetSpec,
    Timing,
)
from ollama_bench.targets.base import Exchange
from ollama_bench.targets.ocr import OcrTarget
from ollama_bench.targets.overlay import OverlayTask
from ollama_bench.vision import scoring
from ollama_bench.vision.runner import judge
from ollama_bench.vision.scenarios import load_scenario

Make = Callable[..., FakeOllama]
LABEL = {"title": "CAM 01 NORTE", "datetime": "2024-11-20T15:45:12", "traffic_level": 20}


def exchange(reply: str) -> Exchange:
    return Exchange(reply=reply, timing=Timing(latency_ns=1_000_000), error=None)


def settings() -> RequestSettings:
    return RequestSettings(model="m")


# -- nesting too deep to parse --------------------------------------------------------------


@pytest.mark.parametrize("opener", ["[", "{", '{"a":['])
def test_deep_nesting_is_a_validation_failure_not_a_crash(opener: str) -> None:
    scenario = load_scenario("cctv")
    reply = opener + "[" * 100_000 + "1" + "]" * 100_000
    validation, score = judge(scenario, exchange(reply), LABEL)
    assert validation is not None and not validation.valid
    assert validation.errors and validation.errors[0].path == ""
    assert score is not None and score["overall"] == 0.0  # wrong is scored, not dropped


def test_judge_never_raises_whatever_the_scorer_does() -> None:
    scenario = load_scenario("cctv")

    def broken(expected: object, actual: object) -> float:
        raise RecursionError("maximum recursion depth exceeded")

    hostile = dataclasses.replace(scenario, scorers=lambda label: {"title": broken})
    validation, score = judge(hostile, exchange(json.dumps(LABEL)), LABEL)
    assert validation is not None and not validation.valid
    assert "RecursionError" in validation.errors[-1].message
    assert score is None


def test_deeply_nested_reply_is_stored_and_the_run_goes_on(
    fake_ollama: Make, tmp_path: Path
) -> None:
    images = make_images(tmp_path / "images")
    deep = "[" * 3000 + "]" * 3000
    server = fake_ollama(reply=deep, chunk_chars=4096)
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--runs", "1"),
        *("--warmup", "0", "--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    samples = samples_of(out)
    assert len(samples) == 2 and all(s["ok"] for s in samples)
    assert all(s["reply"] == deep for s in samples)  # stored as received
    assert all(s["validation"]["valid"] is False for s in samples)
    footer = read_run(out)[-1]
    assert footer["kind"] == "footer" and footer["interrupted"] is False


# -- bounded, linear-time extraction --------------------------------------------------------


class _CountingDecoder(json.JSONDecoder):
    attempts = 0

    def raw_decode(self, s: str, idx: int = 0) -> tuple[Any, int]:
        type(self).attempts += 1
        return super().raw_decode(s, idx)


@pytest.mark.parametrize(
    ("reply", "attempts"),
    [
        ("{" * 300_000, 0),  # no object can begin: nothing to try
        ("[" * 300_000, 0),  # too deep for json.loads, and no object can begin either
        ("{ " * 150_000, 0),
        ('{"' * 150_000, scoring.MAX_EMBEDDED_ATTEMPTS),  # an object may begin at every pair
        ('```json\n{"' * 30_000, scoring.MAX_EMBEDDED_ATTEMPTS),
    ],
    ids=["braces", "brackets", "spaced-braces", "object-starts", "fenced-object-starts"],
)
def test_extraction_work_is_capped(
    monkeypatch: pytest.MonkeyPatch, reply: str, attempts: int
) -> None:
    _CountingDecoder.attempts = 0
    monkeypatch.setattr(scoring.json, "JSONDecoder", _CountingDecoder)
    found, _ = scoring.extract_json(reply)
    assert found is None
    assert _CountingDecoder.attempts == attempts


def test_embedded_json_after_prose_braces_is_still_found() -> None:
    reply = "I see {a road} and [cars] " + "{x} " * 50 + 'so: {"a": 1}'
    assert scoring.extract_json(reply) == ({"a": 1}, "embedded")


# Every `{"` of this reply is where an object may begin: an uncapped search tries them all, each
# failure costing a scan back to the start, and took 30–50 s per request to score.
@pytest.mark.timeout(60)
def test_huge_hostile_reply_is_judged_quickly_end_to_end(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    hostile = '{"' * 300_000
    server = fake_ollama(reply=hostile, chunk_chars=65_536)
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--runs", "2"),
        *("--warmup", "0", "--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    samples = samples_of(out)
    assert len(samples) == 4 and all(s["reply"] == hostile for s in samples)  # not cut
    assert all(s["validation"]["valid"] is False for s in samples)


def test_field_error_messages_are_capped() -> None:
    scenario = load_scenario("cctv")
    reply = json.dumps({**LABEL, "datetime": "x" * 1_000_000})  # its validator quotes the value
    validation, _ = judge(scenario, exchange(reply), LABEL)
    assert validation is not None and [e.path for e in validation.errors] == ["datetime"]
    schema = {"properties": {"a": {"type": "integer"}}}
    (error,) = scoring.validate_with_schema({"a": "y" * 1_000_000}, schema)
    messages = [e.message for e in validation.errors] + [error.message]
    assert all(len(m) <= scoring.MAX_MESSAGE_CHARS for m in messages)


@pytest.mark.parametrize(
    "body", [[1, 2], "0.24.0", {"versions": "0.24.0"}, None], ids=["list", "string", "key", "deep"]
)
def test_a_probe_answer_of_the_wrong_shape_makes_the_target_unusable(
    fake_ollama: Make, tmp_path: Path, body: Any
) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(version_body=body if body is not None else b"[" * 5000 + b"]" * 5000)
    result = run_cli("--target", f"t={server.url}", "--images", str(images), "--out", str(tmp_path))
    assert result.exit_code == 3, result.output
    assert "does not answer like Ollama" in result.stderr and "Traceback" not in result.output


def test_a_megabyte_of_error_text_is_clipped(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(fault_message="E" * 1_000_000)
    server.inject("500")
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--runs", "2"),
        *("--warmup", "0", "--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    (failed,) = [s for s in samples_of(out) if not s["ok"]]
    assert 100 < len(failed["error"]["message"]) <= 2000


def test_every_request_error_is_clipped_and_storable_where_it_is_made() -> None:
    error = RequestError(kind="protocol", message="E" * 100_000 + "\ud800")
    assert len(error.message) == MAX_ERROR_CHARS and "\ud800" not in error.message
    assert RequestError(kind="x", message="a\udc80b").message == "a\ufffdb"


def test_an_ocr_failure_text_is_clipped(monkeypatch: pytest.MonkeyPatch) -> None:
    task = OverlayTask(scenario="cctv", fields=("title",))
    target = OcrTarget(TargetSpec(name="ocr", url="in-process", api="ocr"), settings(), task)
    target._engine = object()

    def read(image: bytes) -> tuple[str, list[Any]]:
        raise ValueError("E" * 100_000)

    monkeypatch.setattr(target, "_read", read)
    exchange = asyncio.run(target.chat("", b"frame", None))
    assert exchange.error is not None and exchange.error.kind == "ocr"
    assert len(exchange.error.message) == MAX_ERROR_CHARS


# -- lone surrogates ------------------------------------------------------------------------


def test_lone_surrogate_in_streamed_content_is_kept_as_a_replacement_character(
    fake_ollama: Make, tmp_path: Path
) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply='{"title": "CAM \ud800 01", "datetime": "x", "traffic_level": 1}')
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--runs", "1"),
        *("--warmup", "0", "--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    samples = samples_of(out)
    assert len(samples) == 2 and all(s["ok"] for s in samples)
    assert all("CAM \ufffd 01" in s["reply"] for s in samples)
    assert out.read_bytes().decode("utf-8")  # the whole file is valid UTF-8


def test_lone_surrogate_in_an_error_text_is_stored(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(fault_message="runner died \udc80 here")
    server.inject("500")
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--runs", "2"),
        *("--warmup", "0", "--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    (failed,) = [s for s in samples_of(out) if not s["ok"]]
    assert failed["error"]["message"] == "runner died \ufffd here"


# -- timings that cannot be true ------------------------------------------------------------


def timing(latency_ns: int, **server: Any) -> Timing:
    return Timing(latency_ns=latency_ns, ttft_ns=latency_ns // 2, server=ServerTimings(**server))


def test_honest_timings_are_not_suspicious() -> None:
    honest = timing(
        2_000_000_000,
        total_duration_ns=1_990_000_000,
        load_duration_ns=150_000_000,
        prompt_eval_count=18,
        prompt_eval_duration_ns=900_000_000,
        eval_count=40,
        eval_duration_ns=900_000_000,
    )
    assert honest.suspicious == []
    assert honest.cold and honest.decode_tokens_per_s == pytest.approx(40 / 0.9)


@pytest.mark.parametrize(
    ("server", "needle"),
    [
        ({"prompt_eval_count": 18, "prompt_eval_duration_ns": -11_250}, "negative"),
        ({"load_duration_ns": 10**25, "total_duration_ns": 10**25}, "above the client's"),
        ({"total_duration_ns": 3_000_000_000}, "above the client's"),
        ({"eval_count": -5, "eval_duration_ns": 1000}, "negative"),
        (
            {
                "total_duration_ns": 1_000_000_000,
                "load_duration_ns": 600_000_000,
                "eval_duration_ns": 600_000_000,
            },
            "add up to more than",
        ),
    ],
)
def test_impossible_timings_are_flagged_and_give_no_rates(
    server: dict[str, Any], needle: str
) -> None:
    t = timing(2_000_000_000, **server)
    assert t.suspicious and needle in " ".join(t.suspicious)
    assert t.prompt_tokens_per_s is None and t.decode_tokens_per_s is None and t.gap_ns is None
    assert t.cold is False  # never a false "paid a model load"


def test_server_total_within_tolerance_of_latency_is_fine() -> None:
    assert timing(1_000_000_000, total_duration_ns=1_004_000_000).suspicious == []


def test_lying_server_is_flagged_and_kept_out_of_rates(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    liar = fake_ollama(
        reply=answer_from_labels(images),
        metrics={"prompt_eval_duration": -11_250, "load_duration": 10**25},
    )
    honest = fake_ollama(reply=answer_from_labels(images), token_delay_s=0.001)
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"gpu={liar.url}", "--target", f"cpu={honest.url}"),
        *("--images", str(images), "--runs", "2", "--warmup", "0", "--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    by_name = {t["name"]: t for t in json.loads(result.stdout)["targets"]}
    gpu, cpu = by_name["gpu"], by_name["cpu"]
    assert gpu["suspicious"] == 4 and cpu["suspicious"] == 0
    assert gpu["prompt_tokens_per_s"]["n"] == 0 and gpu["cold_load_s"] is None
    assert gpu["latency_s"]["n"] == 4  # the client's own clock is still good
    assert cpu["prompt_tokens_per_s"]["n"] == 4
    codes = {(w["target"], w["code"]) for w in json.loads(result.stdout)["warnings"]}
    assert ("gpu", "implausible-timings") in codes
    assert ("gpu", "cold-measured") not in codes
    assert all(s["timing"]["suspicious"] for s in samples_of(out) if s["target"] == "gpu")


# -- a stream held open after its final chunk ----------------------------------------------


def test_done_then_held_open_is_a_complete_reply(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply=answer_from_labels(images), token_delay_s=0.002)
    server.inject("hold_open", count=2)
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--runs", "1"),
        *("--warmup", "0", "--timeout", "5", "--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    samples = samples_of(out)
    assert [s["ok"] for s in samples] == [True, True]
    assert all(s["timing"]["server"]["eval_count"] > 0 for s in samples)
    assert all(s["timing"]["latency_ns"] < 2_000_000_000 for s in samples)  # not the 5 s timeout
    assert all(s["validation"]["valid"] and s["score"]["overall"] == 1.0 for s in samples)


def test_extraction_says_too_deep_instead_of_raising() -> None:
    assert scoring.extract_json("[" * 100_000 + "]" * 100_000) == (None, "too_deep")
    assert scoring.extract_json("no json here") == (None, "none")


def test_two_targets_replying_too_deep_are_compared(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    deep = "[" * 3000 + "]" * 3000
    a, b = (fake_ollama(reply=deep, chunk_chars=4096) for _ in range(2))
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"a={a.url}", "--target", f"b={b.url}", "--images", str(images)),
        *("--runs", "1", "--warmup", "0", "--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    (comparison,) = json.loads(result.stdout)["comparisons"]
    assert comparison["identical_reply_rate"] == 1.0  # the same text, compared as text
    assert read_run(out)[-1]["interrupted"] is False
