"""The run file under stress: a full disk, two runs in one second, files that are not run
files. A full disk stops the run cleanly: every finished request is in the summary, the file
ends on a whole line, exit 74."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fake_ollama import FakeOllama
from test_cli_vision import answer_from_labels, make_images, run_cli
from test_store import header, sample
from typer.testing import CliRunner

from ollama_bench import errors, store
from ollama_bench.cli import app
from ollama_bench.models import RunFooter
from ollama_bench.store import RunWriter, default_run_path, read_vision_run

Make = Callable[..., FakeOllama]
NOW = datetime(2026, 11, 20, 15, 45, 12, tzinfo=UTC)
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class DiskFills:
    """The `os` module as store.py sees it, on a disk with `room` bytes left: a write gets what
    still fits (a short write), then ENOSPC, as a filling disk does."""

    def __init__(self, room: int) -> None:
        self.room = room

    def write(self, fd: int, data: Any) -> int:
        if self.room <= 0:
            raise ENOSPC
        chunk = bytes(data)[: self.room]
        self.room -= len(chunk)
        return os.write(fd, chunk)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def whole_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "the file ends in a torn line"
    return [json.loads(line) for line in text.splitlines()]


# -- a full disk --------------------------------------------------------------------------


def test_full_disk_mid_run_keeps_whole_lines_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.jsonl"
    writer = RunWriter(path, header())
    writer.append(sample(0))
    size = path.stat().st_size
    monkeypatch.setattr(store, "os", DiskFills(room=100))  # half of the next line fits
    with pytest.raises(errors.RunFileError, match=r"r\.jsonl.*No space left on device") as raised:
        writer.append(sample(1))
    assert raised.value.exit_code == 74
    assert path.stat().st_size == size  # the half-written line was taken back
    with pytest.raises(errors.RunFileError):
        writer.append(sample(2))  # broken for good: nothing more is tried
    writer.close(RunFooter(finished_at=NOW, samples=1, interrupted=True, elapsed_s=1.0))
    assert [r["kind"] for r in whole_lines(path)] == ["header", "sample"]
    assert read_vision_run(path).footer is None


def test_full_disk_before_the_start_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "os", DiskFills(room=0))
    path = tmp_path / "r.jsonl"
    with pytest.raises(errors.RunFileError, match="No space left on device"):
        RunWriter(path, header())
    assert not path.exists()


def test_cli_full_disk_mid_run_exits_74_with_the_summary(
    fake_ollama: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply=answer_from_labels(images))
    out = tmp_path / "r.jsonl"
    filling = DiskFills(room=10**9)
    monkeypatch.setattr(store, "os", filling)
    real_append = RunWriter.append

    def append(self: RunWriter, record: Any) -> None:
        if self.records == 3:
            filling.room = 50  # the disk fills while the fourth request runs
        real_append(self, record)

    monkeypatch.setattr(RunWriter, "append", append)
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--runs", "5"),
        *("--warmup", "0", "--out", str(out), "--json"),
    )
    assert result.exit_code == 74, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(out) in errors[0] and "No space left" in errors[0]
    summary = json.loads(result.stdout)
    assert summary["interrupted"] is True
    assert summary["targets"][0]["samples"] == 4  # the fourth was measured, kept in memory
    lines = whole_lines(out)
    assert [r["kind"] for r in lines] == ["header", "sample", "sample", "sample"]
    report = CliRunner().invoke(app, ["report", str(out), "--json"])
    assert report.exit_code == 0 and json.loads(report.stdout)["targets"][0]["samples"] == 3


def test_cli_full_disk_at_the_footer_exits_74(
    fake_ollama: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply=answer_from_labels(images))
    out = tmp_path / "r.jsonl"
    filling = DiskFills(room=10**9)
    monkeypatch.setattr(store, "os", filling)
    real_close = RunWriter.close

    def close(self: RunWriter, footer: Any = None) -> None:
        filling.room = 0  # every sample fitted; the footer does not
        real_close(self, footer)

    monkeypatch.setattr(RunWriter, "close", close)
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--runs", "2"),
        *("--warmup", "0", "--out", str(out), "--json"),
    )
    assert result.exit_code == 74, result.output
    assert json.loads(result.stdout)["targets"][0]["samples"] == 4
    assert [r["kind"] for r in whole_lines(out)] == ["header"] + ["sample"] * 4


def test_cli_full_disk_before_the_start_exits_74_in_one_line(
    fake_ollama: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply=answer_from_labels(images))
    monkeypatch.setattr(store, "os", DiskFills(room=0))
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--out", str(tmp_path / "o")),
    )
    assert result.exit_code == 74, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "No space left on device" in lines[0]
    assert "Traceback" not in result.output
    assert not [p for p in (tmp_path / "o").iterdir()]  # no empty run file left behind
    assert not [b for _, p, b in server.requests if p == "/api/chat"]  # nothing was sent


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, as a real full disk; skipped where mounting is not permitted."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not permitted'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_full_disk_mid_run(fake_ollama: Make, tmp_path: Path, tiny_disk: Path) -> None:
    images = make_images(tmp_path / "images")
    padding = "x" * 6000  # each sample line is about 6 KB: the 64 KiB fill within the run
    server = fake_ollama(reply=f'{{"title": "{padding}"}}', chunk_chars=8192)
    out = tiny_disk / "r.jsonl"
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--runs", "10"),
        *("--warmup", "0", "--out", str(out), "--json"),
    )
    assert result.exit_code == 74, result.output
    summary = json.loads(result.stdout)
    lines = whole_lines(out)
    stored = [r for r in lines if r["kind"] == "sample"]
    assert 0 < len(stored) < 20
    assert summary["targets"][0]["samples"] == len(stored) + 1
    assert "No space left on device" in result.stderr and "Traceback" not in result.output


def test_real_disk_full_before_the_start(
    fake_ollama: Make, tmp_path: Path, tiny_disk: Path
) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply=answer_from_labels(images))
    with (tiny_disk / "filler").open("wb", buffering=0) as filler:
        with pytest.raises(OSError) as full:
            while True:
                filler.write(b"\0" * 4096)
        assert full.value.errno == errno.ENOSPC
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--out", str(tiny_disk)),
    )
    assert result.exit_code == 74, result.output
    assert "No space left on device" in result.stderr and "Traceback" not in result.output
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler"]


def test_a_lone_surrogate_anywhere_is_stored_as_a_replacement_character(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = RunWriter(path, header())
    writer.append(sample(0).model_copy(update={"reply": "bad \ud800 text"}))
    writer.close()
    assert (
        json.loads(path.read_text(encoding="utf-8").splitlines()[1])["reply"] == "bad \ufffd text"
    )


# -- run file names cannot collide ------------------------------------------------------


def test_default_name_holds_the_run_id(tmp_path: Path) -> None:
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    first = default_run_path(tmp_path, "cctv", NOW, a)
    assert first == tmp_path / f"20261120T154512Z-cctv-{a[:8]}.jsonl"
    assert first != default_run_path(tmp_path, "cctv", NOW, b)


def test_two_runs_in_the_same_second_both_keep_their_file(
    fake_ollama: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ollama_bench.vision import bench

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Frozen:
            return cls(2026, 11, 20, 15, 45, 12, 345, tzinfo=UTC)

    monkeypatch.setattr(bench, "datetime", Frozen)
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply=answer_from_labels(images))
    args = ("--target", f"t={server.url}", "--images", str(images), "--runs", "1")
    first = run_cli(*args, "--out", str(tmp_path / "runs"), "--json")
    second = run_cli(*args, "--out", str(tmp_path / "runs"), "--json")
    assert (first.exit_code, second.exit_code) == (0, 0), second.output
    files = sorted((tmp_path / "runs").iterdir())
    assert len(files) == 2 and all(f.name.startswith("20261120T154512Z-cctv-") for f in files)
    assert {json.loads(r.stdout)["run_file"] for r in (first, second)} == {str(f) for f in files}


# -- files that are not run files --------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x80", "not UTF-8 text"),
        (b"[1, 2, 3]\n", ":1: not a JSON object"),
        (b"3\n", ":1: not a JSON object"),
        (b'"text"\n', ":1: not a JSON object"),
        (b"", "is not an obench run file"),
    ],
    ids=["binary", "list", "number", "string", "empty"],
)
def test_report_on_a_file_that_is_not_a_run_file(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    path = tmp_path / "weird.jsonl"
    path.write_bytes(content)
    result = CliRunner().invoke(app, ["report", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and str(path) in lines[0]
    assert needle in lines[0]
    assert "Traceback" not in result.output


def test_report_on_a_run_file_with_a_stray_list_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = RunWriter(path, header())
    writer.append(sample(0))
    writer.close()
    with path.open("a") as f:
        f.write("[1, 2]\n")
        f.write(json.dumps(sample(1).model_dump(mode="json")) + "\n")
    result = CliRunner().invoke(app, ["report", str(path)])
    assert result.exit_code == 2 and f"{path}:3: not a JSON object" in result.stderr
