"""Run files: header, one flushed line per sample, footer; torn lines; read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ollama_bench.errors import UsageError
from ollama_bench.models import RequestSettings, RunFooter, RunHeader, Sample, ServerTimings, Timing
from ollama_bench.store import RunWriter, default_run_path, read_vision_run

NOW = datetime(2026, 11, 20, 15, 45, 12, tzinfo=UTC)


def header() -> RunHeader:
    return RunHeader(
        tool_version="0",
        run_id="r",
        started_at=NOW,
        scenario="cctv",
        prompt_sha256="0" * 64,
        schema_sent=None,
        settings=RequestSettings(model="m"),
        warmup=1,
        runs=1,
        targets=[],
        images=[],
        host={},
    )


def sample(seq: int) -> Sample:
    timing = Timing(
        latency_ns=2_000_000_000,
        ttft_ns=500_000_000,
        server=ServerTimings(
            total_duration_ns=1_900_000_000,
            load_duration_ns=150_000_000,
            eval_count=50,
            eval_duration_ns=1_000_000_000,
        ),
    )
    return Sample(
        seq=seq,
        target="gpu",
        image="a.png",
        image_sha256="f" * 64,
        phase="measured",
        repeat=0,
        started_at=NOW,
        ok=True,
        timing=timing,
        reply="{}",
    )


def test_default_path_sorts_by_time(tmp_path: Path) -> None:
    path = default_run_path(tmp_path, "cctv", NOW, "0123456789abcdef")
    assert path == tmp_path / "20261120T154512Z-cctv-01234567.jsonl"


def test_each_sample_is_on_disk_before_close(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "r.jsonl"
    writer = RunWriter(path, header())
    writer.append(sample(0))
    lines = path.read_text().splitlines()  # read while the writer is still open
    assert [json.loads(line)["kind"] for line in lines] == ["header", "sample"]
    writer.append(sample(1))
    writer.close(RunFooter(finished_at=NOW, samples=2, interrupted=False, elapsed_s=1.0))
    run = read_vision_run(path)
    assert [s.seq for s in run.samples] == [0, 1]
    assert run.footer is not None and run.footer.samples == 2
    assert run.header.scenario == "cctv"


def test_derived_timings_are_stored(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = RunWriter(path, header())
    writer.append(sample(0))
    writer.close()
    stored = json.loads(path.read_text().splitlines()[1])["timing"]
    assert stored["decode_tokens_per_s"] == pytest.approx(50.0)
    assert stored["gap_ns"] == 100_000_000
    assert stored["cold"] is True  # 150 ms load ≥ 100 ms threshold
    assert "image" not in stored and "data" not in json.dumps(stored)


def test_torn_last_line_is_skipped_and_missing_footer_is_none(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = RunWriter(path, header())
    writer.append(sample(0))
    writer.close()
    with path.open("a") as f:
        f.write('{"kind": "sample", "seq": 1, "tar')
    run = read_vision_run(path)
    assert len(run.samples) == 1 and run.footer is None


def test_refuses_to_overwrite_and_names_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    RunWriter(path, header()).close()
    with pytest.raises(UsageError, match="already exists"):
        RunWriter(path, header())
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "header"}\nnot json\n{"kind": "footer"}\n')
    with pytest.raises(UsageError, match=r"bad\.jsonl"):
        read_vision_run(bad)
