"""obench doctor: pure findings over probe and /api/ps results, and the command end to end.

Test servers play each case: a GPU server (size_vram = size), a CPU one (size_vram 0), a split
one, a server too new for mllama, one without the model, an unreachable one, and a target named
gpu that runs on the CPU.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
from fake_ollama import FakeModel, FakeOllama
from typer.testing import CliRunner, Result

from ollama_bench.cli import app
from ollama_bench.models import Placement, RequestSettings, TargetInfo
from ollama_bench.ops.doctor import (
    TargetCheck,
    diagnose,
    duplicate_findings,
    placement_findings,
    role_of,
    server_key,
)
from ollama_bench.targets.spec import parse_target

Make = Callable[..., FakeOllama]
GIB = 2**30


def doctor(*args: str) -> tuple[Result, dict[str, Any]]:
    result = CliRunner().invoke(app, ["doctor", "--json", *args])
    return result, json.loads(result.stdout) if result.stdout.startswith("{") else {}


def codes(report: dict[str, Any], target: str | None = None) -> set[str]:
    return {f["code"] for f in report["findings"] if target is None or f["target"] == target}


def checks_by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["info"]["name"]: c for c in report["targets"]}


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# -- pure --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "vram", "processor", "gpu_pct", "label"),
    [
        (8 * GIB, 8 * GIB, "gpu", 100, "100% GPU"),
        (8 * GIB, 0, "cpu", 0, "100% CPU"),
        (7_816_589_186, 4_064_626_377, "split", 52, "48%/52% CPU/GPU"),
        (1000, 995, "split", 99, "1%/99% CPU/GPU"),  # Go's math.Round: 0.5 → 1 CPU
        (1000, 1001, "unknown", None, "unknown"),  # ollama ps: "Unknown"
    ],
)
def test_placement_is_classified_as_ollama_ps_does(
    size: int, vram: int, processor: str, gpu_pct: int | None, label: str
) -> None:
    placement = Placement.of(size, vram)
    assert (placement.processor, placement.gpu_pct, placement.label) == (processor, gpu_pct, label)


def test_not_loaded_is_unknown() -> None:
    placement = Placement(loaded=False)
    assert (placement.processor, placement.gpu_pct, placement.label) == (
        "unknown",
        None,
        "not loaded",
    )
    assert placement_findings("gpu", placement) == []


def test_roles_come_from_names() -> None:
    assert [role_of(n) for n in ("gpu", "cuda0", "GPU-4090", "cpu", "box-11434", "cpu-vs-gpu")] == [
        "gpu",
        "gpu",
        "gpu",
        "cpu",
        None,
        None,
    ]


def test_mislabelled_placements_warn_and_matching_ones_do_not() -> None:
    on_cpu, on_gpu, split = Placement.of(100, 0), Placement.of(100, 100), Placement.of(100, 40)
    assert [f.code for f in placement_findings("gpu", on_cpu)] == ["gpu-on-cpu"]
    assert [f.code for f in placement_findings("cpu", on_gpu)] == ["cpu-on-gpu"]
    assert [f.code for f in placement_findings("cpu", split)] == ["cpu-on-gpu"]
    (partial,) = placement_findings("gpu", split)
    assert partial.code == "gpu-partial" and "only 40%" in partial.message
    assert placement_findings("gpu", on_gpu) == placement_findings("cpu", on_cpu) == []
    assert placement_findings("box", on_cpu) == []  # a neutral name claims nothing


def test_same_server_same_options_warns_different_runner_options_notes() -> None:
    same = [parse_target("a=http://localhost:11434"), parse_target("b=127.0.0.1:11434")]
    (finding,) = duplicate_findings(same)
    assert (finding.level, finding.code) == ("warning", "same-server")
    reload = [parse_target("gpu=localhost"), parse_target("cpu=localhost,num_gpu=0")]
    (finding,) = duplicate_findings(reload)
    assert (finding.level, finding.code) == ("note", "shared-server")
    assert "num_gpu" in finding.message and "reloads" in finding.message
    assert duplicate_findings([parse_target("a=h1"), parse_target("b=h2")]) == []
    assert server_key("http://[::1]:11434") == server_key("http://localhost:11434")


def test_exit_code_follows_the_worst_finding() -> None:
    settings = RequestSettings(model="llama3.2-vision")
    ok = TargetInfo(name="gpu", url="http://h:1", reachable=True, version="0.24.0")
    ok.model_present, ok.model_digest = True, "a" * 64
    specs = [parse_target("gpu=http://h:1")]
    well = diagnose([TargetCheck(info=ok, placement=Placement.of(10, 10))], specs, settings)
    assert well.exit_code == 0 and well.findings == []
    mislabel = diagnose([TargetCheck(info=ok, placement=Placement.of(10, 0))], specs, settings)
    assert mislabel.exit_code == 1
    down = TargetInfo(name="gpu", url="http://h:1", error="cannot connect to http://h:1")
    assert diagnose([TargetCheck(info=down)], specs, settings).exit_code == 3


def test_a_missing_model_is_told_by_the_probe_flag_not_by_its_words() -> None:
    settings = RequestSettings(model="llama3.2-vision")
    info = TargetInfo(name="gpu", url="http://h:1", reachable=True, error="any wording")
    specs = [parse_target("gpu=http://h:1")]
    (bad,) = diagnose([TargetCheck(info=info)], specs, settings).findings
    assert bad.code == "bad-answer"
    info.model_missing = True
    (missing,) = diagnose([TargetCheck(info=info)], specs, settings).findings
    assert missing.code == "model-missing" and "obench pull" in missing.hint
    assert missing.message == "model llama3.2-vision is not on http://h:1"


# -- the command against test servers -----------------------------------------------------------


def test_gpu_cpu_and_a_mislabelled_gpu_with_load(fake_ollama: Make) -> None:
    gpu = fake_ollama(vram_fraction=1.0)
    cpu = fake_ollama(vram_fraction=0.0)
    fake_gpu = fake_ollama(vram_fraction=0.0)
    result, report = doctor(
        "--load", "-t", f"gpu={gpu.url}", "-t", f"cpu={cpu.url}", "-t", f"gpu2={fake_gpu.url}"
    )
    assert result.exit_code == 1, result.output
    found = checks_by_name(report)
    assert found["gpu"]["placement"]["processor"] == "gpu"
    assert found["cpu"]["placement"]["processor"] == "cpu"
    assert found["gpu2"]["placement"]["processor"] == "cpu"
    assert all(c["loaded_by_doctor"] for c in found.values())
    assert codes(report, "gpu2") == {"gpu-on-cpu"}
    assert codes(report, "gpu") == codes(report, "cpu") == set()
    assert report["exit_code"] == 1
    info = found["gpu"]["info"]
    assert (info["version"], info["quantization"], info["model_size_bytes"]) == (
        "0.24.0",
        "Q4_K_M",
        FakeModel().size,
    )


def test_load_sends_the_run_options_as_an_empty_chat(fake_ollama: Make) -> None:
    server = fake_ollama()
    result, _ = doctor("--load", "--num-ctx", "8192", "-t", f"gpu={server.url},num_gpu=99")
    assert result.exit_code == 0, result.output
    (body,) = [b for m, p, b in server.requests if p == "/api/chat"]
    assert body is not None and body["messages"] == []
    assert body["keep_alive"] == "30m"
    assert body["options"]["num_ctx"] == 8192 and body["options"]["num_gpu"] == 99


def test_split_placement_is_shown_with_its_percentage(fake_ollama: Make) -> None:
    server = fake_ollama(vram_fraction=0.52)
    result, report = doctor("--load", "-t", f"gpu={server.url}")
    assert result.exit_code == 1
    placement = checks_by_name(report)["gpu"]["placement"]
    assert (placement["processor"], placement["gpu_pct"]) == ("split", 52)
    assert codes(report) == {"gpu-partial"}
    human = CliRunner().invoke(app, ["doctor", "-t", f"gpu={server.url}"], env={"COLUMNS": "200"})
    assert "48%/52% CPU/GPU" in human.stdout


def test_a_cpu_target_on_a_gpu_server_is_flagged(fake_ollama: Make) -> None:
    server = fake_ollama(vram_fraction=1.0)
    result, report = doctor("--load", "-t", f"cpu={server.url}")
    assert result.exit_code == 1 and codes(report) == {"cpu-on-gpu"}


def test_without_load_placement_is_unknown_and_said_so(fake_ollama: Make) -> None:
    gpu, cpu = fake_ollama(), fake_ollama(vram_fraction=0.0)
    result, report = doctor("-t", f"gpu={gpu.url}", "-t", f"cpu={cpu.url}")
    assert result.exit_code == 0, result.output
    assert all(c["placement"]["loaded"] is False for c in report["targets"])
    (note,) = report["findings"]
    assert note["code"] == "not-loaded" and note["level"] == "note"
    assert "gpu, cpu" in note["message"] and "--load" in note["hint"]
    assert not any(p == "/api/chat" for _, p, _ in gpu.requests)  # doctor loads only if asked


def test_a_server_too_new_for_mllama_is_unusable_and_not_loaded(fake_ollama: Make) -> None:
    server = fake_ollama(version="0.31.2")
    result, report = doctor("--load", "-t", f"gpu={server.url}")
    assert result.exit_code == 3
    (finding,) = report["findings"]
    assert (finding["level"], finding["code"]) == ("error", "version")
    assert "unknown model architecture" in finding["message"]
    assert not any(p == "/api/chat" for _, p, _ in server.requests)


def test_missing_model_and_unreachable_target_are_unusable(fake_ollama: Make) -> None:
    empty = fake_ollama(models=[])
    down = closed_url()
    result, report = doctor("-t", f"gpu={empty.url}", "-t", f"cpu={down}")
    assert result.exit_code == 3
    assert codes(report, "gpu") == {"model-missing"}
    assert codes(report, "cpu") == {"unreachable"}
    missing = next(f for f in report["findings"] if f["code"] == "model-missing")
    assert missing["hint"] == f"obench pull --target gpu={empty.url} --model llama3.2-vision"


def test_two_targets_on_one_server_with_the_same_options(fake_ollama: Make) -> None:
    server = fake_ollama()
    result, report = doctor("-t", f"gpu={server.url}", "-t", f"cpu={server.url}")
    assert result.exit_code == 1 and "same-server" in codes(report)


def test_different_builds_of_the_model_are_flagged(fake_ollama: Make) -> None:
    a = fake_ollama()
    b = fake_ollama(models=[FakeModel(digest="f" * 64)])
    result, report = doctor("-t", f"gpu={a.url}", "-t", f"cpu={b.url}")
    assert result.exit_code == 1 and "different-models" in codes(report)


def test_model_loaded_with_another_context_is_noted(fake_ollama: Make) -> None:
    server = fake_ollama()
    assert doctor("--load", "--num-ctx", "8192", "-t", f"gpu={server.url}")[0].exit_code == 0
    result, report = doctor("-t", f"gpu={server.url}")  # a run would send num_ctx 4096
    assert result.exit_code == 0 and codes(report) == {"reload-ahead"}


def test_human_output_is_loud_about_a_mislabelled_target(fake_ollama: Make) -> None:
    server = fake_ollama(vram_fraction=0.0)
    result = CliRunner().invoke(
        app, ["doctor", "--load", "-t", f"gpu={server.url}"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1
    assert "PLACEMENT DOES NOT MATCH THE TARGET'S NAME" in result.stdout
    assert "gpu is named like a GPU target but runs the model 100% on the CPU" in result.stdout
    assert "usable, with warnings (exit 1)" in result.stdout


def test_doctor_help_documents_exit_codes() -> None:
    result = CliRunner().invoke(app, ["doctor", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.stdout.split())
    assert "Exit codes: 0 all well; 1 usable, with warnings" in text
    assert "3 a target is unusable" in text
