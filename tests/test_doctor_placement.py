"""Placement in a vision run: read from /api/ps after the warm-up and at the end, kept in the
footer, summarised per target, shown by `obench report`, and loud when it contradicts a name."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fake_ollama import FakeOllama
from typer.testing import CliRunner, Result

from ollama_bench.cli import app
from ollama_bench.models import Placement, PlacementReading, Sample, Timing
from ollama_bench.vision.summary import chosen_placement

Make = Callable[..., FakeOllama]


def vision(out: Path, *targets: str, warmup: str = "1") -> Result:
    args = ["vision", "--quiet", "--no-monitor", "--runs", "1", "--warmup", warmup]
    args += ["--out", str(out), "--json"]
    for target in targets:
        args += ["-t", target]
    return CliRunner().invoke(app, args)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def by_name(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in summary["targets"]}


def test_footer_records_where_each_target_ran(fake_ollama: Make, tmp_path: Path) -> None:
    gpu, cpu = fake_ollama(vram_fraction=1.0), fake_ollama(vram_fraction=0.0)
    out = tmp_path / "run.jsonl"
    result = vision(out, f"gpu={gpu.url}", f"cpu={cpu.url}")
    assert result.exit_code == 0, result.output
    footer = lines(out)[-1]
    assert footer["kind"] == "footer"
    readings = [
        (r["target"], r["after"], r["placement"]["processor"]) for r in footer["placements"]
    ]
    assert readings == [
        ("gpu", "warmup", "gpu"),
        ("cpu", "warmup", "cpu"),
        ("gpu", "run", "gpu"),
        ("cpu", "run", "cpu"),
    ]
    assert footer["placements"][0]["placement"]["context_length"] == 4096
    summary = json.loads(result.stdout)
    assert by_name(summary)["gpu"]["placement"]["processor"] == "gpu"
    assert by_name(summary)["cpu"]["placement"]["gpu_pct"] == 0
    assert not {"gpu-on-cpu", "cpu-on-gpu"} & {w["code"] for w in summary["warnings"]}
    assert "gpu: model loaded 100% GPU" in result.output  # said live, after the warm-up


def test_a_gpu_target_on_the_cpu_is_warned_about_in_run_and_report(
    fake_ollama: Make, tmp_path: Path
) -> None:
    fake_gpu = fake_ollama(vram_fraction=0.0)
    out = tmp_path / "run.jsonl"
    result = vision(out, f"gpu={fake_gpu.url}")
    assert result.exit_code == 0, result.output
    assert "WARNING gpu is named like a GPU target but runs the model 100% on the CPU" in (
        " ".join(result.output.split())
    )
    warnings = json.loads(result.stdout)["warnings"]
    assert [w["code"] for w in warnings].count("gpu-on-cpu") == 1
    report = CliRunner().invoke(app, ["report", str(out)], env={"COLUMNS": "200"})
    assert report.exit_code == 0
    assert "placement (ollama ps)" in report.stdout and "100% CPU" in report.stdout
    assert "gpu is named like a GPU target but runs the model 100% on the CPU" in (
        " ".join(report.stdout.split())
    )


def test_without_warmup_the_end_reading_is_used(fake_ollama: Make, tmp_path: Path) -> None:
    server = fake_ollama(vram_fraction=0.52)
    out = tmp_path / "run.jsonl"
    result = vision(out, f"gpu={server.url}", warmup="0")
    assert result.exit_code == 0, result.output
    first, last = lines(out)[-1]["placements"]
    assert (first["after"], first["placement"]["loaded"]) == ("warmup", False)
    assert (last["after"], last["placement"]["processor"]) == ("run", "split")
    placement = by_name(json.loads(result.stdout))["gpu"]["placement"]
    assert (placement["processor"], placement["gpu_pct"]) == ("split", 52)


def test_a_reload_elsewhere_during_the_run_is_reported(fake_ollama: Make, tmp_path: Path) -> None:
    calls: list[int] = []
    server: FakeOllama

    def reply(body: dict[str, Any]) -> str:
        calls.append(1)
        if len(calls) == 2:  # after the warm-up: the model is evicted and comes back on the CPU
            server.config.vram_fraction = 0.0
            server.unload()
        return '{"ok": true}'

    server = fake_ollama(vram_fraction=1.0, reply=reply)
    out = tmp_path / "run.jsonl"
    result = vision(out, f"gpu={server.url}")
    assert result.exit_code == 0, result.output
    warnings = {w["code"]: w for w in json.loads(result.stdout)["warnings"]}
    assert (
        "100% GPU after the warm-up but 100% CPU at the end"
        in (warnings["placement-changed"]["message"])
    )


def test_chosen_placement_prefers_a_loaded_reading() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    idle = PlacementReading(target="a", after="warmup", at=at, placement=Placement(loaded=False))
    end = PlacementReading(target="a", after="run", at=at, placement=Placement.of(10, 10))
    assert chosen_placement("a", [idle, end]) == Placement.of(10, 10)
    assert chosen_placement("a", [idle]) == Placement(loaded=False)
    assert chosen_placement("b", [idle, end]) is None


def test_old_run_files_without_placement_still_read(tmp_path: Path) -> None:
    header = {
        "kind": "header",
        "tool_version": "0.1.0",
        "run_id": "x",
        "started_at": "2026-01-01T00:00:00Z",
        "scenario": "cctv",
        "prompt_sha256": "0" * 64,
        "schema_sent": None,
        "settings": {"model": "llama3.2-vision"},
        "warmup": 0,
        "runs": 1,
        "targets": [{"name": "gpu", "url": "http://h:11434", "reachable": True}],
        "images": [],
        "host": {},
    }
    sample = Sample(
        seq=0,
        target="gpu",
        image="a.png",
        image_sha256="0" * 64,
        phase="measured",
        repeat=0,
        started_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=1),
        ok=True,
        timing=Timing(latency_ns=1_000_000),
    )
    footer = {"kind": "footer", "finished_at": "2026-01-01T00:00:09Z", "samples": 1}
    footer |= {"interrupted": False, "elapsed_s": 9.0}
    path = tmp_path / "old.jsonl"
    path.write_text("\n".join([json.dumps(header), sample.model_dump_json(), json.dumps(footer)]))
    result = CliRunner().invoke(app, ["report", str(path), "--json"])
    assert result.exit_code == 0, result.output
    target = json.loads(result.stdout)["targets"][0]
    assert target["placement"] is None and target["utilisation"] is None
