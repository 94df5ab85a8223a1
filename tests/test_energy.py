"""Energy: integration against synthetic traces of known integral, RAPL counters (a fake sysfs
tree, wrap-around included), GPU power from a stand-in nvidia-smi, and the honest "not
measurable here" when neither can be read."""

from __future__ import annotations

import itertools
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import nvidia_smi
from fake_http import Slots
from fake_ollama import FakeModel, FakeOllama
from test_cli_vision import make_images
from typer.testing import CliRunner

from ollama_bench.cli import app
from ollama_bench.models import GpuReading, Monitoring, RaplReading, UtilisationSample
from ollama_bench.ops import energy, utilisation
from ollama_bench.ops.energy import (
    energy_note,
    integrate_counter,
    integrate_power,
    merge_windows,
    plan_rapl,
    rapl_energy_trace,
    summarise_energy,
    unwrap_uj,
)

Make = Callable[..., FakeOllama]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- pure integration against known integrals --------------------------------------------------


def test_power_trace_integral_matches_the_analytic_one_within_1_percent() -> None:
    # P(t) = 200 + 80 sin(t / 3) W sampled once a second (as nvidia-smi is), over 2.5 s → 57.5 s.
    # ∫ P = 200 (b − a) − 240 (cos(b/3) − cos(a/3)).
    times = [float(t) for t in range(0, 61)]
    watts = [200 + 80 * math.sin(t / 3) for t in times]
    a, b = 2.5, 57.5
    exact = 200 * (b - a) - 240 * (math.cos(b / 3) - math.cos(a / 3))
    joules, covered = integrate_power(times, watts, (a, b))
    assert covered == pytest.approx(b - a)
    assert joules == pytest.approx(exact, rel=0.01)


def test_a_window_inside_one_interval_and_one_outside_the_readings() -> None:
    times, watts = [0.0, 1.0, 2.0], [100.0, 300.0, 300.0]
    assert integrate_power(times, watts, (0.25, 0.75)) == pytest.approx((100.0, 0.5))  # 200 W mean
    assert integrate_power(times, watts, (3.0, 4.0)) == (0.0, 0.0)
    joules, covered = integrate_power(times, watts, (1.5, 5.0))  # only 0.5 s is covered
    assert (joules, covered) == pytest.approx((150.0, 0.5))


def test_rapl_counter_wraps_around_at_its_range() -> None:
    # A 2^32 µJ counter (4294.967296 J) read every second at a steady 150 W wraps between
    # readings 28 and 29; unwrapped, the energy is 150 J per second throughout.
    max_range = 2**32
    start = max_range - 28 * 150_000_000 - 1_000
    raw = [(start + i * 150_000_000) % max_range for i in range(60)]
    assert any(later < earlier for earlier, later in itertools.pairwise(raw))
    unwrapped = unwrap_uj(raw, max_range)
    assert unwrapped == [i * 150_000_000 for i in range(60)]
    joules, covered = integrate_counter(
        [float(i) for i in range(60)], [uj / 1e6 for uj in unwrapped], (10.5, 40.5)
    )
    assert (joules, covered) == pytest.approx((4500.0, 30.0))


def test_counter_with_varying_power_integrates_to_the_known_total() -> None:
    # Counter readings of E(t) = 100 t + 5 t² J (power 100 + 10 t W), exact at each reading;
    # interpolating between readings is exact at the ends of whole intervals.
    times = [i * 0.5 for i in range(41)]
    cumulative = [100 * t + 5 * t * t for t in times]
    joules, _ = integrate_counter(times, cumulative, (2.0, 18.0))
    assert joules == pytest.approx((100 * 18 + 5 * 18**2) - (100 * 2 + 5 * 2**2), rel=0.01)


def gpu_power(seconds: float, watts: float) -> UtilisationSample:
    """An nvidia-smi reading of one GPU drawing `watts`, `seconds` after T0."""
    gpu = GpuReading(
        index=0, utilisation_pct=90, memory_used_bytes=0, memory_total_bytes=1, power_w=watts
    )
    return UtilisationSample(source="nvidia", at=at(seconds), gpus=[gpu])


def test_overlapping_request_windows_count_once() -> None:
    assert merge_windows([(0, 2), (1, 3), (3, 4), (6, 7)]) == [(0, 4), (6, 7)]
    readings = [gpu_power(t, 100.0) for t in range(0, 11)]
    windows = [(at(1).timestamp(), at(3).timestamp()), (at(2).timestamp(), at(5).timestamp())]
    summary = summarise_energy(windows, requests=2, output_tokens=40, readings=readings)
    assert summary is not None
    assert summary.busy_s == pytest.approx(4.0)
    assert summary.gpu_j == pytest.approx(400.0) and summary.cpu_package_j is None
    assert summary.joules_per_request == pytest.approx(200.0)
    assert summary.joules_per_output_token == pytest.approx(10.0)
    assert summary.sources == ["GPU"] and summary.coverage == pytest.approx(1.0)


def test_energy_is_withheld_when_readings_do_not_cover_the_requests() -> None:
    readings = [gpu_power(t, 50.0) for t in (0, 1)]
    summary = summarise_energy([(at(0).timestamp(), at(10).timestamp())], 1, 5, readings)
    assert summary is not None and summary.coverage == pytest.approx(0.1)
    assert summary.joules_per_request is None and summary.note and "10%" in summary.note
    assert summarise_energy([(0.0, 1.0)], 1, 1, []) is None


def test_too_few_readings_are_said_so_by_vision_and_load_alike() -> None:
    from rich.console import Console

    from ollama_bench.load.summary import LoadTargetSummary, Percentiles, StepSummary
    from ollama_bench.views.load_tables import queue_table
    from ollama_bench.views.tables import fmt_energy

    readings = [gpu_power(t, 50.0) for t in (0, 1)]
    withheld = summarise_energy([(at(0).timestamp(), at(10).timestamp())], 1, 5, readings)
    assert fmt_energy(withheld, "request") == fmt_energy(withheld, "token") == "too few readings"
    none = Percentiles(n=0)
    step = StepSummary(
        step=0,
        mode="concurrency",
        label="c=1",
        sent=1,
        completed=1,
        failed=0,
        in_flight_max=1,
        elapsed_s=10.0,
        throughput_per_s=0.1,
        output_tokens_per_s=0.5,
        latency_s=none,
        ttft_s=none,
        queue_s=none,
        energy=withheld,
    )
    console = Console(record=True, width=200)
    console.print(queue_table(LoadTargetSummary(name="t", url="u", steps=[step], knees=[])))
    text = console.export_text()
    assert "J/request" in text and "too few readings" in text  # not a dash, nor left out


def test_rapl_zones_are_unwrapped_one_by_one_and_summed() -> None:
    def row(t: float, a: int, b: int) -> UtilisationSample:
        zones = [
            RaplReading(
                zone="intel-rapl:0", name="package-0", energy_uj=a, max_energy_range_uj=1000
            ),
            RaplReading(
                zone="intel-rapl:1", name="package-1", energy_uj=b, max_energy_range_uj=5000
            ),
        ]
        return UtilisationSample(source="rapl", at=at(t), rapl=zones)

    times, joules = rapl_energy_trace([row(0, 900, 100), row(1, 100, 300), row(2, 300, 500)])
    assert joules == pytest.approx([0, (200 + 200) / 1e6, (400 + 400) / 1e6])
    assert times == [at(0).timestamp(), at(1).timestamp(), at(2).timestamp()]


# -- RAPL through a fake sysfs tree -------------------------------------------------------------


def fake_powercap(root: Path, zones: dict[str, tuple[str, int, int]]) -> Path:
    """A powercap tree: {directory: (name, energy_uj, max_energy_range_uj)}, plus a core subzone."""
    for directory, (name, uj, max_range) in zones.items():
        zone = root / directory
        zone.mkdir(parents=True)
        (zone / "name").write_text(name + "\n")
        (zone / "energy_uj").write_text(f"{uj}\n")
        (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
        core = zone / f"{directory}:0"
        core.mkdir()
        (core / "name").write_text("core\n")
        (core / "energy_uj").write_text("1\n")
    return root


def test_plan_rapl_finds_package_zones_only(tmp_path: Path) -> None:
    root = fake_powercap(
        tmp_path / "powercap",
        {
            "intel-rapl:0": ("package-0", 5, 2**32),
            "intel-rapl:1": ("package-1", 7, 2**32),
            "intel-rapl:2": ("psys", 9, 2**32),
        },
    )
    zones, why = plan_rapl(root)
    assert why is None and [z.name for z in zones] == ["intel-rapl:0", "intel-rapl:1"]
    assert [r.energy_uj for r in energy.read_rapl(zones)] == [5, 7]


def test_plan_rapl_says_why_it_cannot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, why = plan_rapl(tmp_path / "absent")
    assert why is not None and "does not exist" in why and "VM" in why
    (tmp_path / "empty").mkdir()
    _, why = plan_rapl(tmp_path / "empty")
    assert why == f"no RAPL package zone under {tmp_path / 'empty'}"
    root = fake_powercap(tmp_path / "locked", {"intel-rapl:0": ("package-0", 5, 2**32)})
    read_text = Path.read_text

    def root_only(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == "energy_uj":  # what a non-root user gets since Linux 5.10
            raise PermissionError(13, "Permission denied", str(self))
        return read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", root_only)
    _, why = plan_rapl(root)
    assert why is not None and "readable by root only" in why and "intel-rapl:0" in why


# -- sampled during a run -----------------------------------------------------------------------


IDLE_W, GPU_BUSY_W, CPU_BUSY_W = 10.0, 310.0, 60.0


def gpu_line(watts: float) -> str:
    """nvidia-smi's answer to obench's query: one GPU drawing `watts`."""
    return f"0, 97, 20480, 24564, {watts:.2f}\n"


def busy_while_serving(
    server: FakeOllama, busy: Path, requests: range, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Make `busy` exist from when `server` takes up the first of these `requests` (counted
    from 0 in the order it serves them) to when it has answered the last, as a GPU draws power
    while it works: the time before, a warm-up included, is idle."""
    acquire, release = server._acquire, server._release
    acquired_count, released_count = itertools.count(), itertools.count()

    def acquired(slots: Slots) -> None:
        acquire(slots)
        if next(acquired_count) == requests.start:
            busy.touch()

    def released(model: FakeModel, keep_alive_ns: int) -> None:
        if next(released_count) == requests[-1]:
            busy.unlink()
        release(model, keep_alive_ns)

    monkeypatch.setattr(server, "_acquire", acquired)
    monkeypatch.setattr(server, "_release", released)


@pytest.fixture
def rapl_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A powercap tree whose package counter a thread advances at CPU_BUSY_W while the file it
    yields exists and at IDLE_W otherwise, wrapping at 20 J."""
    root = fake_powercap(tmp_path / "powercap", {"intel-rapl:0": ("package-0", 0, 20_000_000)})
    counter = root / "intel-rapl:0" / "energy_uj"
    busy = tmp_path / "busy"
    stop = threading.Event()

    def advance() -> None:
        uj, then = 0.0, time.perf_counter()
        while not stop.wait(0.005):
            now = time.perf_counter()
            uj += (CPU_BUSY_W if busy.exists() else IDLE_W) * 1e6 * (now - then)
            then = now
            tmp = counter.with_suffix(".tmp")
            tmp.write_text(f"{int(uj) % 20_000_000}\n")
            tmp.replace(counter)  # atomic, so a reader never sees a half-written number

    thread = threading.Thread(target=advance, daemon=True)
    thread.start()
    monkeypatch.setattr(energy, "POWERCAP_ROOT", root)
    yield busy
    stop.set()
    thread.join()


@pytest.fixture
def monitor_default() -> str:
    return "1"  # these tests are about sampling: keep it on (conftest turns it off)


def test_vision_run_reports_joules_per_request_from_gpu_power_and_rapl(
    fake_ollama: Make,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rapl_package: Path,
) -> None:
    busy = rapl_package  # while this file exists, both sources draw their busy power
    monkeypatch.setattr(utilisation, "INTERVAL_S", 0.05)
    smi = nvidia_smi(tmp_path / "bin", gpu_line(IDLE_W), (busy, gpu_line(GPU_BUSY_W)))
    monkeypatch.setenv("PATH", str(smi))
    monkeypatch.setitem(sys.modules, "docker", None)  # no Docker SDK: containers not sampled
    server = fake_ollama(prompt_eval_s=0.4, token_delay_s=0.01, reply='{"a": "x y z"}')
    busy_while_serving(server, busy, range(1, 5), monkeypatch)  # after the warm-up
    out = tmp_path / "run.jsonl"
    images = make_images(tmp_path / "images")  # two: four requests in two runs
    args = ["vision", "-q", "--json", "--runs", "2", "--warmup", "1", "-t", f"gpu={server.url}"]
    result = CliRunner().invoke(app, [*args, "--images", str(images), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["energy_note"] is None
    target = summary["targets"][0]
    spent = target["energy"]
    requests = target["samples"] - target["failed"]
    assert spent["requests"] == requests == 4 and spent["coverage"] > 0.99
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    measured = [r for r in lines if r["kind"] == "sample" and r["phase"] == "measured"]
    # One request at a time: the requests' windows add up to their latencies.
    busy_s = spent["busy_s"]
    assert busy_s == pytest.approx(sum(r["timing"]["latency_ns"] for r in measured) / 1e9, rel=0.01)
    # The sources draw their busy power from when the server takes up the first measured
    # request to when it has answered the last, and IDLE_W before (in the warm-up too): over the
    # requests' own windows the mean is the busy power, but for the readings' smear at the two
    # edges. Windows a request early would take in the idle warm-up and lower the mean by a
    # quarter (four requests). The package counter wraps at 20 J, several times here.
    gpu_w, cpu_w = spent["gpu_j"] / busy_s, spent["cpu_package_j"] / busy_s
    assert 0.85 * GPU_BUSY_W < gpu_w <= GPU_BUSY_W * 1.001, gpu_w
    assert 0.9 * CPU_BUSY_W < cpu_w < CPU_BUSY_W * 1.05, cpu_w
    assert spent["joules_per_request"] == pytest.approx(
        (spent["gpu_j"] + spent["cpu_package_j"]) / requests
    )
    tokens = spent["output_tokens"]
    assert spent["joules_per_output_token"] == pytest.approx(spent["joules"] / tokens)
    kinds = {r["source"] for r in lines if r["kind"] == "utilisation"}
    assert {"nvidia", "rapl"} <= kinds
    table = CliRunner().invoke(app, ["report", str(out)], env={"COLUMNS": "200"})
    assert "energy / request" in table.stdout and "GPU + CPU package" in table.stdout


def test_without_power_sources_the_report_says_energy_is_not_measurable_here(
    fake_ollama: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(energy, "POWERCAP_ROOT", tmp_path / "no-powercap")
    empty = tmp_path / "no-nvidia"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setitem(sys.modules, "docker", None)
    server = fake_ollama()
    out = tmp_path / "run.jsonl"
    args = ["vision", "-q", "--runs", "1", "-t", f"gpu={server.url}", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    note = summary["energy_note"]
    assert note.startswith("energy: not measurable here: GPU power: nvidia-smi not found")
    assert "no-powercap does not exist" in note
    assert summary["targets"][0]["energy"] is None
    table = CliRunner().invoke(app, ["report", str(out)], env={"COLUMNS": "200"})
    assert "energy: not measurable here" in table.stdout


def test_remote_targets_and_monitoring_off_are_named_as_the_reason() -> None:
    monitoring = Monitoring(
        nvidia_note="no target is on this machine, so its GPUs say nothing about them",
        rapl_note="no target is on this machine, so its CPU says nothing of them",
    )
    assert "no target is on this machine" in (energy_note(monitoring) or "")
    assert energy_note(None) == "energy: not measured (sampling was off: --no-monitor)"
    assert energy_note(Monitoring(nvidia_note=None, rapl_note="x")) is None


def test_load_step_energy_is_power_times_step_time_per_request(
    fake_ollama: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(utilisation, "INTERVAL_S", 0.05)
    monkeypatch.setattr(energy, "POWERCAP_ROOT", tmp_path / "no-powercap")
    busy = tmp_path / "busy"
    smi = nvidia_smi(tmp_path / "bin", gpu_line(IDLE_W), (busy, gpu_line(GPU_BUSY_W)))
    monkeypatch.setenv("PATH", str(smi))
    monkeypatch.setitem(sys.modules, "docker", None)
    server = fake_ollama(prompt_eval_s=0.3, token_delay_s=0.005, num_parallel=2)
    busy_while_serving(server, busy, range(1, 9), monkeypatch)  # after the warm-up
    out = tmp_path / "load.jsonl"
    args = ["load", "-q", "--json", "-t", f"gpu={server.url}", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--concurrency", "2", "--requests", "8"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["energy_note"] is None
    (step,) = summary["targets"][0]["steps"]
    spent = step["energy"]
    # The step's time is where the GPU draws GPU_BUSY_W; the warm-up before it, a fourth of
    # as long, is idle: a window that began before the step would lower the mean by as much.
    gpu_w = spent["gpu_j"] / step["elapsed_s"]
    assert 0.85 * GPU_BUSY_W < gpu_w <= GPU_BUSY_W * 1.001, gpu_w
    assert spent["joules_per_request"] == pytest.approx(spent["gpu_j"] / 8)
    assert spent["cpu_package_j"] is None and spent["sources"] == ["GPU"]
