"""Server-supplied text with rich markup or terminal escape codes: shown literally, never
obeyed, never a crash; the `[docker]` of an install hint survives the tables."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_ollama import FakeModel, FakeOllama
from rich.console import Console
from test_cli_vision import answer_from_labels, make_images, run_cli
from typer.testing import CliRunner

from ollama_bench.cli import app
from ollama_bench.console import fail
from ollama_bench.errors import UsageError
from ollama_bench.ops.utilisation import INSTALL_HINT
from ollama_bench.untrusted import printable, visible
from ollama_bench.views.tables import render
from ollama_bench.vision.summary import RunSummary, Warning

Make = Callable[..., FakeOllama]
CLEAR = "\x1b[2J"  # clears the screen when a terminal obeys it
TITLE = "\x1b]0;pwned\x07"  # sets the terminal's title
HOSTILE_DIGEST = "[/]" + "a" * 61


def no_escape_codes(*texts: str) -> None:
    for text in texts:
        assert "\x1b" not in text and "\x07" not in text


def test_printable_shows_what_it_does_not_obey() -> None:
    assert printable(f"0.99.0[/]{CLEAR}") == "0.99.0\\[/]\\x1b[2J"
    assert visible("a\u202eb\nc\x9bd") == "a\\u202eb\\nc\\x9bd"


def test_vision_shows_hostile_version_and_digest_literally(
    fake_ollama: Make, tmp_path: Path
) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(
        version=f"0.24.0[/]{CLEAR}{TITLE}",
        models=[FakeModel(digest=HOSTILE_DIGEST)],
        reply=answer_from_labels(images),
    )
    result = run_cli(
        *("--target", f"gpu={server.url}", "--images", str(images), "--runs", "1"),
        *("--out", str(tmp_path / "r.jsonl")),
    )
    assert result.exit_code == 0, result.output
    no_escape_codes(result.stdout, result.stderr)
    stderr = " ".join(result.stderr.split())  # undo rich's wrapping
    assert "Ollama 0.24.0[/]\\x1b[2J\\x1b]0;pwned\\x07 · model [/]aaaa" in stderr  # probe line
    assert "0.24.0[/]" in result.stdout  # the table's column header


def test_report_does_not_replay_escape_codes_from_a_header(
    fake_ollama: Make, tmp_path: Path
) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(version=f"0.24.0{CLEAR}", reply=answer_from_labels(images))
    out = tmp_path / "r.jsonl"
    first = run_cli(
        *("--target", f"gpu={server.url}", "--images", str(images), "--runs", "1"),
        *("--out", str(out), "--json"),
    )
    assert first.exit_code == 0, first.output
    assert CLEAR in json.loads(out.read_text().splitlines()[0])["targets"][0]["version"]
    again = CliRunner().invoke(app, ["report", str(out)])
    assert again.exit_code == 0, again.output
    no_escape_codes(again.stdout, again.stderr)
    assert "0.24.0\\x1b[2J" in again.stdout


def test_doctor_survives_markup_in_the_version(fake_ollama: Make) -> None:
    server = fake_ollama(version="0.99.0[/]", models=[FakeModel(digest=HOSTILE_DIGEST)])
    result = CliRunner().invoke(app, ["doctor", "--target", f"gpu={server.url}"])
    assert result.exit_code == 3, result.output  # 0.99 cannot run llama3.2-vision: unusable
    assert "Traceback" not in result.output and "MarkupError" not in result.output
    text = " ".join(result.stdout.split())
    assert "0.99.0[/]" in text and "Ollama 0.99.0[/] cannot run llama3.2-vision" in text


def test_pull_failure_text_is_shown_literally(fake_ollama: Make) -> None:
    server = fake_ollama(models=[], pull_error=f"disk [bold]full[/] {CLEAR}")
    result = CliRunner().invoke(app, ["pull", "--target", f"gpu={server.url}", "--quiet"])
    assert result.exit_code == 3, result.output
    no_escape_codes(result.stdout, result.stderr)
    assert "disk [bold]full[/] \\x1b[2J" in " ".join(result.stderr.split())


def test_error_lines_are_made_harmless(capsys: pytest.CaptureFixture[str]) -> None:
    exit_ = fail(UsageError(f"server said [/] {CLEAR}", "try [red]this[/red]"), debug=False)
    assert exit_.exit_code == 2
    err = capsys.readouterr().err
    no_escape_codes(err)
    assert "server said [/] \\x1b[2J — try [red]this[/red]" in " ".join(err.split())


def test_install_hint_keeps_its_extra_in_the_tables() -> None:
    summary = RunSummary(
        run_file="r.jsonl",
        scenario="cctv",
        model="m",
        structured=True,
        targets=[],
        comparisons=[],
        warnings=[
            Warning(
                target=None,
                code="no-utilisation",
                message=f"container CPU and memory not sampled: {INSTALL_HINT}",
            )
        ],
    )
    buffer = io.StringIO()
    render(summary, Console(file=buffer, width=200))
    assert "pip install 'ollama-bench[docker]'" in buffer.getvalue()
