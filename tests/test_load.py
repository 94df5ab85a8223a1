"""obench load against test servers with a known number of slots.

A request holds a slot for SERVICE_S (prompt eval plus the reply's tokens). That is long against the
client's own cost per request (1–3 ms on loopback; 10–30 ms when other builds load this 2-core
machine), so the ratios below are decided by the servers' slots, not by scheduling noise:
- 1 slot: throughput at c=4 equals c=1 (requests only queue) and latency is 4× (each waits for
  the three ahead of it). The client's cost between two requests shows only at c=1, so the ratio
  is 1 + overhead/SERVICE_S: under 8% even at 30 ms.
- 4 slots: c=4 finishes four requests per SERVICE_S; the client's cost adds to every cycle at
  c=1 and c=4 alike, and cancels in the ratio but for the slowest worker's extra.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fake_http import tokens_of
from fake_ollama import FakeOllama
from typer.testing import CliRunner

from ollama_bench.cli import app
from ollama_bench.load.bench import LoadJob, LoadOutcome, run_load
from ollama_bench.load.records import LoadSample, StepSpec, read_load_run
from ollama_bench.load.schedule import plan_steps, poisson_offsets_s
from ollama_bench.load.summary import (
    LoadSummary,
    closed_loop_knee,
    open_loop_knee,
    slope,
    summarise_step,
)
from ollama_bench.models import RequestSettings, ServerTimings, Timing
from ollama_bench.targets.spec import parse_target
from ollama_bench.vision.scenarios import load_scenario

Make = Callable[..., FakeOllama]
MODEL = "llama3.2-vision"
REPLY = '{"title": "a b c d e f g"}'
REPLY_TOKENS = len(tokens_of(REPLY))  # as the stand-ins split it: 10
PROMPT_S, TOKEN_S = 0.32, 0.01
SERVICE_S = PROMPT_S + REPLY_TOKENS * TOKEN_S  # 0.42 s of slot time per request


class Quiet:
    def step_started(self, target: str, step: StepSpec | None, requests: int) -> None: ...
    def finished(self, sample: LoadSample) -> None: ...


def run(
    tmp_path: Path, urls: dict[str, str], steps: list[StepSpec], slo: float | None = None
) -> LoadSummary:
    job = LoadJob(
        scenario=load_scenario("cctv"),
        settings=RequestSettings(model=MODEL),
        targets=[parse_target(f"{name}={url}") for name, url in urls.items()],
        warmup=1,
        steps=steps,
        out=tmp_path / "load.jsonl",
        slo_latency_s=slo,
        monitor=False,
    )
    return asyncio.run(run_load(job, LoadOutcome(), on_probe=lambda infos: None, observer=Quiet()))


def closed(index: int, concurrency: int, requests: int) -> StepSpec:
    return StepSpec(
        index=index,
        mode="concurrency",
        concurrency=concurrency,
        max_requests=requests,
        max_duration_s=60,
    )


def opened(index: int, rate: float, requests: int, seed: int = 7) -> StepSpec:
    return StepSpec(
        index=index,
        mode="rate",
        rate_per_s=rate,
        max_requests=requests,
        max_duration_s=60,
        seed=seed,
    )


def test_one_slot_queues_and_four_slots_scale(fake_ollama: Make, tmp_path: Path) -> None:
    one = fake_ollama(prompt_eval_s=PROMPT_S, token_delay_s=TOKEN_S, reply=REPLY)
    four = fake_ollama(prompt_eval_s=PROMPT_S, token_delay_s=TOKEN_S, reply=REPLY, num_parallel=4)
    # c=1: 4 requests. c=4 on one slot: 8, so that the steady state (every request behind three
    # others) outweighs the first four, which found 0–3 ahead of them; on four slots: 12 (three
    # rounds), so that the last round's stragglers weigh less.
    by_name = {}
    for name, url, c4_requests in (("one", one.url, 8), ("four", four.url, 12)):
        (target,) = run(
            tmp_path / name, {name: url}, [closed(0, 1, 4), closed(1, 4, c4_requests)]
        ).targets
        by_name[name] = {s.concurrency: s for s in target.steps}
        c1, c4 = by_name[name][1], by_name[name][4]
        assert c1.completed == 4 and c4.completed == c4_requests and c4.in_flight_max == 4
        assert c1.throughput_per_s == pytest.approx(1 / SERVICE_S, rel=0.10)
        expected = 1.0 if name == "one" else 4.0
        ratio = (c4.throughput_per_s or 0) / (c1.throughput_per_s or 1)
        assert ratio == pytest.approx(expected, rel=0.10), (name, ratio)
        knee = target.knees[0]
        assert knee.label == "c=1" if name == "one" else "knee not reached" in knee.reason
    one_c1, one_c4 = by_name["one"][1], by_name["one"][4]
    latency_ratio = (one_c4.latency_s.p50 or 0) / (one_c1.latency_s.p50 or 1)
    assert latency_ratio == pytest.approx(4.0, rel=0.10)
    # On the 1-slot server the extra latency is waiting for the slot: queueing, not work.
    assert one_c4.queue_s.p50 == pytest.approx(3 * SERVICE_S, rel=0.15)
    assert (one_c1.queue_s.p50 or 1) < 0.02
    four_c4 = by_name["four"][4]
    assert four_c4.latency_s.p50 == pytest.approx(SERVICE_S, rel=0.10)


def test_open_loop_above_capacity_builds_a_reported_queue(
    fake_ollama: Make, tmp_path: Path
) -> None:
    # One slot of 0.11 s (0.06 s of prompt, 10 tokens of 5 ms): capacity 9.1 requests/s. 5/s
    # is kept up with; 25/s is not.
    slot_s = 0.06 + REPLY_TOKENS * 0.005
    server = fake_ollama(prompt_eval_s=0.06, token_delay_s=0.005, reply=REPLY)
    steps = [opened(0, 5, 12, seed=3), opened(1, 25, 20, seed=3)]  # seed 3: close to the rates
    summary = run(tmp_path, {"one": server.url}, steps)
    (target,) = summary.targets
    below, above = target.steps
    assert below.offered_per_s == pytest.approx(5, rel=0.1)  # the seeded schedule's own rate
    assert above.offered_per_s == pytest.approx(25, rel=0.1)
    assert below.served_share is not None and below.served_share > 0.9
    assert (below.queue_s.p50 or 1) < 0.05
    # Above capacity every request waits for all that arrived before it and are not done: the
    # queueing climbs through the step by about (offered/capacity − 1) s per s: 1.75 here.
    assert above.served_share is not None and above.served_share < 0.6
    assert (above.queue_s.p90 or 0) > 0.5
    assert above.queue_growth is not None and above.queue_growth > 0.7
    assert above.throughput_per_s == pytest.approx(1 / slot_s, rel=0.2)
    (knee,) = target.knees
    assert knee.label == "5 req/s" and "25 req/s was served at" in knee.reason
    # The client kept to its schedule: its lag is a small fraction of the gaps between sends.
    assert above.lag_s is not None and (above.lag_s.p50 or 1) < 0.01


def test_run_file_holds_schedule_every_request_and_each_step(
    fake_ollama: Make, tmp_path: Path
) -> None:
    server = fake_ollama(prompt_eval_s=0.02, token_delay_s=0.002, reply=REPLY)
    other = fake_ollama(prompt_eval_s=0.02, token_delay_s=0.002, reply=REPLY)
    out = tmp_path / "load.jsonl"
    args = ["load", "-q", "--json", "-t", f"gpu={server.url}", "-t", f"cpu={other.url}"]
    args += ["--concurrency", "1,2", "--rate", "5", "--requests", "6", "--slo-latency", "0.5"]
    args += ["--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    run_file = read_load_run(out)
    header = run_file.header
    assert [s.label for s in header.steps] == ["c=1", "c=2", "5 req/s"]
    assert header.steps[2].seed is not None and header.slo_latency_s == 0.5
    assert header.order.startswith("one target at a time")
    # Never together: every gpu request (warm-up included) ended before the first cpu one.
    gpu_end = max(
        s.started_at.timestamp() + s.timing.latency_ns / 1e9
        for s in run_file.samples
        if s.target == "gpu"
    )
    cpu_start = min(s.started_at.timestamp() for s in run_file.samples if s.target == "cpu")
    assert gpu_end <= cpu_start
    assert len(server.requests) > 0 and len(other.requests) > 0
    run_file.samples = [s for s in run_file.samples if s.target == "gpu"]
    measured = [s for s in run_file.samples if s.phase == "measured"]
    assert len(measured) == 18 and len(run_file.samples) == 19  # one warm-up
    assert [d.stopped_by for d in run_file.steps] == ["requests"] * 6
    assert run_file.footer is not None and run_file.footer.samples == 38
    rate_samples = [s for s in measured if s.step == 2]
    offsets = poisson_offsets_s(5, 6, header.steps[2].max_duration_s, header.steps[2].seed or 0)
    assert [s.scheduled_ns for s in rate_samples] == [int(o * 1e9) for o in offsets]
    assert all(s.lag_ns is not None and s.lag_ns >= 0 for s in rate_samples)
    summary = json.loads(result.stdout)
    step = summary["targets"][0]["steps"][0]
    assert step["goodput_per_s"] == pytest.approx(step["throughput_per_s"])  # all within 0.5 s
    assert step["slo_met"] == 1.0 and step["itl"]["gaps"] > 0
    assert set(step["latency_s"]) == {"n", "p50", "p90", "p95", "p99", "mean", "max"}
    assert summary["energy_note"] == "energy: not measured (sampling was off: --no-monitor)"
    report = CliRunner().invoke(app, ["report", str(out)], env={"COLUMNS": "200"})
    assert report.exit_code == 0, report.output
    assert ": throughput" in report.stdout and "latency and time to first token" in report.stdout
    assert "knee" in report.stdout
    assert "5 req/s" in report.stdout and "goodput/s ≤ 500 ms" in report.stdout


def test_duration_bounds_a_step(fake_ollama: Make, tmp_path: Path) -> None:
    server = fake_ollama(prompt_eval_s=0.1, reply=REPLY)
    step = StepSpec(
        index=0, mode="concurrency", concurrency=2, max_requests=1000, max_duration_s=0.35
    )
    started = time.perf_counter()
    summary = run(tmp_path, {"one": server.url}, [step])
    elapsed = time.perf_counter() - started
    (s,) = summary.targets[0].steps
    # Sends stop at 0.35 s; the two in flight then finish: about 4–6 requests, well under 2 s.
    assert 3 <= s.sent <= 8 and elapsed < 3
    assert read_load_run(tmp_path / "load.jsonl").steps[0].stopped_by == "duration"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_keeps_what_was_measured(
    fake_ollama: Make, tmp_path: Path, signum: int
) -> None:
    server = fake_ollama(prompt_eval_s=0.05, reply=REPLY)
    out = tmp_path / "load.jsonl"
    args = ["load", "-q", "--no-monitor", "-t", f"gpu={server.url}", "--out", str(out)]
    args += ["--concurrency", "2", "--requests", "1000", "--duration", "60"]

    def terminate_when_measuring() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if out.exists() and out.read_text().count('"phase":"measured"') >= 4:
                break
            time.sleep(0.02)
        os.kill(os.getpid(), signum)

    killer = threading.Thread(target=terminate_when_measuring)
    killer.start()
    result = CliRunner().invoke(app, [*args, "--json"])
    killer.join()
    assert result.exit_code == 128 + signum, result.output  # 143 for SIGTERM, as shells say
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[-1]["kind"] == "footer" and lines[-1]["interrupted"] is True
    assert lines[-1]["samples"] == sum(1 for r in lines if r["kind"] == "sample") >= 5
    summary = json.loads(result.stdout)
    assert summary["interrupted"] is True and summary["targets"][0]["steps"][0]["completed"] >= 4


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--concurrency", "1,x"], "--concurrency: 'x' is not a number"),
        (["--concurrency", "1.5"], "--concurrency: '1.5' must be a whole number above 0"),
        (["--rate", "0"], "--rate: '0' must be a number above 0"),
    ],
)
def test_bad_levels_exit_2_in_one_line(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(app, ["load", *args, "-t", "x=http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert needle in result.output and "Traceback" not in result.output


def test_help_documents_exit_codes_and_env_vars() -> None:
    result = CliRunner().invoke(app, ["load", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("130, 143, 129", "OBENCH_CONCURRENCY", "OBENCH_RATE", "OBENCH_SLO_LATENCY"):
        assert text in result.output


# -- pure parts -----------------------------------------------------------------------------------


def test_poisson_schedule_is_seeded_bounded_and_has_the_asked_rate() -> None:
    offsets = poisson_offsets_s(4.0, 4000, 1e6, seed=3)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert statistics.fmean(gaps) == pytest.approx(0.25, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(0.25, rel=0.1)  # exponential: sd = mean
    assert poisson_offsets_s(4.0, 50, 60, seed=3) == offsets[:50]
    assert poisson_offsets_s(4.0, 50, 60, seed=4) != offsets[:50]
    assert max(poisson_offsets_s(100.0, 10_000, 2.0, seed=1)) <= 2.0


def test_steps_share_their_seeds_across_targets_and_order_closed_first() -> None:
    steps = plan_steps([1, 4], [0.5, 2.0], max_requests=10, max_duration_s=30, seed=42)
    assert [(s.index, s.label) for s in steps] == [
        (0, "c=1"),
        (1, "c=4"),
        (2, "0.5 req/s"),
        (3, "2 req/s"),
    ]
    assert [s.seed for s in steps] == [None, None, 42002, 42003]


def test_knee_rules() -> None:
    assert closed_loop_knee([1, 2, 4, 8], [1.0, 2.0, 3.9, 4.1])[0] == 2
    assert closed_loop_knee([1, 2, 4, 8], [1.0, 1.9, 2.2, 2.2])[0] == 1  # 2→4: efficiency 0.16
    assert closed_loop_knee([4], [1.0])[0] is None
    assert open_loop_knee([0.5, 1, 2], [1.0, 0.95, 0.5])[0] == 1
    assert open_loop_knee([0.5, 1], [0.99, 0.97])[0] is None
    assert slope([0, 1, 2], [5, 5, 5]) == 0 and slope([0, 1], [0, 1]) is None


def test_failures_are_counted_and_a_dead_target_is_left_out(
    fake_ollama: Make, tmp_path: Path
) -> None:
    server = fake_ollama(prompt_eval_s=0.01, reply=REPLY)
    with FakeOllama() as gone:
        dead = gone.url
    server.inject("500", 2)  # taken by the warm-up and the first measured request
    args = ["load", "-q", "--json", "--no-monitor", "-t", f"up={server.url}", "-t", f"down={dead}"]
    args += ["--concurrency", "2", "--requests", "6", "--out", str(tmp_path / "l.jsonl")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 4, result.output  # a target without a successful request
    assert "down had no successful measured request (unusable)" in result.output
    summary = json.loads(result.stdout)
    up, down = summary["targets"]
    (step,) = up["steps"]
    assert (step["sent"], step["completed"], step["failed"]) == (6, 5, 1)
    assert step["errors"] == {"http_500": 1}
    assert down["usable"] is False and down["steps"] == [] and "cannot connect" in down["error"]
    codes = {(w["target"], w["code"]) for w in summary["warnings"]}
    assert {("up", "failures"), ("down", "unusable")} <= codes


def test_impossible_server_timings_give_no_queueing_or_token_rate() -> None:
    lying = ServerTimings(total_duration_ns=9 * 10**9, eval_count=50, eval_duration_ns=9 * 10**9)
    honest = ServerTimings(total_duration_ns=10**8, eval_count=5, eval_duration_ns=9 * 10**7)
    samples = [
        LoadSample(
            seq=i,
            target="t",
            step=0,
            phase="measured",
            image="a.jpg",
            image_sha256="0" * 64,
            started_at=datetime.now(UTC),
            sent_ns=i * 10**8,
            in_flight=1,
            ok=True,
            timing=Timing(latency_ns=10**8, server=server),
        )
        for i, server in enumerate([lying, honest])
    ]
    step = summarise_step(closed(0, 1, 2), samples, None, [])
    assert step.queue_s.n == 1 and step.queue_s.p50 == pytest.approx(0.01)  # the honest one
    assert step.output_tokens_per_s == pytest.approx(5 / 0.2)


def test_an_openai_server_with_two_slots_scales_twofold(
    fake_openai: Callable[..., Any], tmp_path: Path
) -> None:
    # llama-server -np 2: requests beyond two wait for a slot, and no timing it reports shows
    # the wait; queueing (latency − its prompt and predicted times) does. It samples the first
    # token as the prompt is done, so a slot is held for one token delay less than on Ollama.
    service_s = PROMPT_S + (REPLY_TOKENS - 1) * TOKEN_S
    server = fake_openai(
        prompt_eval_s=PROMPT_S, token_delay_s=TOKEN_S, reply=REPLY, parallel=2, models=[MODEL]
    )
    summary = run(
        tmp_path, {"llama": f"{server.url},api=openai"}, [closed(0, 1, 4), closed(1, 4, 8)]
    )
    c1, c4 = summary.targets[0].steps
    ratio = (c4.throughput_per_s or 0) / (c1.throughput_per_s or 1)
    assert ratio == pytest.approx(2.0, rel=0.10)
    assert c4.latency_s.p50 == pytest.approx(2 * c1.latency_s.p50, rel=0.15)  # type: ignore[operator]
    assert c4.queue_s.p50 == pytest.approx(service_s, rel=0.2)
    assert c4.itl is not None and c4.itl.p50_s == pytest.approx(TOKEN_S, abs=0.003)


def test_an_openai_server_gets_no_placement_reading(
    fake_openai: Callable[..., Any], tmp_path: Path
) -> None:
    """It cannot say where the model runs: nothing is recorded, not an "unknown" reading."""
    server = fake_openai(reply=REPLY, models=[MODEL])
    summary = run(tmp_path, {"llama": f"{server.url},api=openai"}, [closed(0, 1, 1)])
    footer = read_load_run(tmp_path / "load.jsonl").footer
    assert footer is not None and footer.placements == []
    assert summary.targets[0].placement is None


def test_concurrent_clients_keep_what_the_probe_found(
    fake_openai: Callable[..., Any], tmp_path: Path
) -> None:
    # This server refuses response_format json_schema: the probe falls back to json_object, and
    # every client opened for a request in flight must send that too, not fail with HTTP 400.
    server = fake_openai(json_schema=False, reply=REPLY, models=[MODEL], parallel=2)
    summary = run(tmp_path, {"llama": f"{server.url},api=openai"}, [closed(0, 3, 6)])
    (step,) = summary.targets[0].steps
    assert (step.completed, step.failed, step.in_flight_max) == (6, 0, 3)
    chats = [body for _, path, body in server.requests if path == "/v1/chat/completions"]
    forms = {body["response_format"]["type"] for body in chats[-7:] if body}
    assert forms == {"json_object"}
    assert all(body and body.get("cache_prompt") is False for body in chats[-7:])


def test_full_disk_at_the_footer_exits_74(
    fake_ollama: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_run_file_faults import DiskFills, whole_lines

    from ollama_bench import store
    from ollama_bench.store import RunWriter

    server = fake_ollama(prompt_eval_s=0.01, reply=REPLY)
    filling = DiskFills(room=10**9)
    monkeypatch.setattr(store, "os", filling)
    real_close = RunWriter.close

    def close(self: RunWriter, footer: Any = None) -> None:
        filling.room = 0  # every request fitted; the footer does not
        real_close(self, footer)

    monkeypatch.setattr(RunWriter, "close", close)
    out = tmp_path / "l.jsonl"
    args = ["load", "-q", "--json", "--no-monitor", "-t", f"t={server.url}"]
    args += ["--concurrency", "1", "--requests", "3", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 74, result.output
    assert json.loads(result.stdout)["targets"][0]["steps"][0]["completed"] == 3
    kinds = [r["kind"] for r in whole_lines(out)]
    assert kinds[0] == "header" and "footer" not in kinds and kinds.count("sample") == 4


def test_the_ocr_baseline_answers_under_load(fake_ollama: Make, tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime", reason="the [ocr] extra is not installed")
    server = fake_ollama(prompt_eval_s=0.01, reply=REPLY)
    args = ["load", "-q", "--json", "--no-monitor", "-t", f"srv={server.url}", "-t", "ocr=ocr"]
    args += ["--concurrency", "1", "--requests", "2", "--out", str(tmp_path / "l.jsonl")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    ocr = next(t for t in summary["targets"] if t["name"] == "ocr")
    assert ocr["usable"] is True and ocr["placement"]["processor"] == "cpu"
    (step,) = ocr["steps"]
    assert (step["sent"], step["completed"], step["valid_rate"]) == (2, 2, 1.0)
    srv = next(t for t in summary["targets"] if t["name"] == "srv")
    assert srv["placement"]["loaded"] is True  # read from /api/ps after its steps


@pytest.mark.parametrize("step", [closed(0, 4, 40), opened(0, 10.0, 40)], ids=["closed", "open"])
def test_a_full_disk_stops_the_step_at_once(
    fake_ollama: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: StepSpec
) -> None:
    from test_run_file_faults import DiskFills

    from ollama_bench import store
    from ollama_bench.errors import RunFileError
    from ollama_bench.store import RunWriter

    # 40 requests of 0.2 s on four slots: 2 s closed loop, ~4 s at 10/s. The disk fills at the
    # third measured request; the step must stop there, not send the rest of its schedule.
    server = fake_ollama(prompt_eval_s=0.2, reply=REPLY, num_parallel=4)
    filling = DiskFills(room=10**9)
    monkeypatch.setattr(store, "os", filling)
    real_append = RunWriter.append

    def append(self: RunWriter, record: Any) -> None:
        if self.records == 4:  # header, warm-up, two measured requests
            filling.room = 0
        real_append(self, record)

    monkeypatch.setattr(RunWriter, "append", append)
    job = LoadJob(
        scenario=load_scenario("cctv"),
        settings=RequestSettings(model=MODEL),
        targets=[parse_target(f"t={server.url}")],
        warmup=1,
        steps=[step],
        out=tmp_path / "load.jsonl",
        monitor=False,
    )
    outcome = LoadOutcome()

    async def main() -> None:
        with pytest.raises(RunFileError):
            await run_load(job, outcome, on_probe=lambda infos: None, observer=Quiet())
        await asyncio.sleep(0.5)  # a request still running would end, and be kept, by now

    asyncio.run(main())
    chats = [path for _, path, _ in server.requests if path == "/api/chat"]
    assert len(chats) < 15  # the warm-up, four in flight, a few sent while they ran
    assert outcome.summary is not None
    (summary_step,) = outcome.summary.targets[0].steps
    assert len(outcome.samples) == 1 + summary_step.sent  # none kept after the summary


def test_each_server_is_named_as_it_is(fake_openai: Callable[..., Any], tmp_path: Path) -> None:
    from rich.console import Console

    from ollama_bench.views.load_tables import render_load

    server = fake_openai(reply=REPLY, models=[MODEL])
    summary = run(tmp_path, {"llama": f"{server.url},api=openai"}, [closed(0, 1, 1)])
    (target,) = summary.targets
    assert (target.api, target.server, target.version) == ("openai", "llama.cpp", "b1-0c1e570")
    console = Console(record=True, width=200)
    render_load(summary, console)
    text = " ".join(console.export_text().split())  # undo the title's wrapping
    assert f"llama · {server.url} · llama.cpp b1-0c1e570: throughput" in text
    assert "Ollama" not in text
