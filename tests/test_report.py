"""obench report: one reader for every kind of run file, and each format it writes (tables, JSON,
CSV, Markdown, HTML), from a vision run with failures, invalid replies and hostile text, and CNN
run files. The HTML in a real browser is tests/test_report_browser.py."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape
from report_runs import (
    HOSTILE_ERROR,
    HOSTILE_IMAGE,
    HOSTILE_REPLY,
    SCRIPT,
    cnn_infer_run,
    cnn_parallel_run,
    cnn_train_run,
    vision_run,
)
from typer.testing import CliRunner, Result

from ollama_bench.cli import app
from ollama_bench.runfiles import (
    InferReport,
    ParallelReport,
    TrainReport,
    VisionReport,
    read_report,
)
from ollama_bench.store import read_lines
from ollama_bench.views import figures

SVG_URI = re.compile(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"')


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's parser reads them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def report(*args: str) -> Result:
    return CliRunner().invoke(app, ["report", *args], env={"COLUMNS": "160"})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One vision run against two test servers, and one CNN run file of each kind."""
    folder = tmp_path_factory.mktemp("runs")
    vision = vision_run(folder)
    return {
        "vision": vision,
        "infer": cnn_infer_run(folder / "infer.jsonl"),
        "parallel": cnn_parallel_run(folder / "parallel.jsonl"),
        "train": cnn_train_run(folder / "train.jsonl"),
    }


def test_one_reader_types_every_kind(runs: dict[str, Path]) -> None:
    kinds = {name: type(read_report(path)) for name, path in runs.items()}
    assert kinds == {
        "vision": VisionReport,
        "infer": InferReport,
        "parallel": ParallelReport,
        "train": TrainReport,
    }


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n", b'{"kind": "sample"}\n', b"[1]\n"])
def test_a_file_that_is_no_run_is_one_line_and_exit_2(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    result = report(str(path), "--format", "html")
    assert result.exit_code == 2
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert str(path.name) in result.stderr and "Traceback" not in result.stderr


def test_table_of_every_kind(runs: dict[str, Path]) -> None:
    result = report(*map(str, runs.values()))
    assert result.exit_code == 0, result.output
    for title in ("Per target", "Measured batches", "Arms:", "Training runs"):
        assert title in result.stdout
    assert "\x1b" not in result.stdout  # the hostile error's escape code is shown, not obeyed


def test_json_one_file_is_an_object_several_a_list(runs: dict[str, Path]) -> None:
    one = json.loads(report(str(runs["vision"]), "--json").stdout)
    assert {t["name"] for t in one["targets"]} == {"gpu", "cpu"}
    (latency,) = [c["metrics"]["latency"] for c in one["comparisons"]]
    assert latency["verdict"] == "faster" and 4 < latency["speedup"] < 8  # 6× slower server
    assert all(i["ci95"][0] < i["speedup"] < i["ci95"][1] for i in latency["images"])
    several = json.loads(report(str(runs["vision"]), str(runs["train"]), "--format", "json").stdout)
    assert [set(s) >= {"run_file"} for s in several] == [True, True]


def test_csv_rows_per_request_and_per_target(runs: dict[str, Path], tmp_path: Path) -> None:
    result = report(str(runs["vision"]), "--format", "csv", "-o", str(tmp_path / "v.csv"))
    assert result.exit_code == 0, result.output
    rows = rows_of(tmp_path / "v.samples.csv")
    stored = [r for r in read_lines(runs["vision"]) if r["kind"] == "sample"]
    assert len(rows) == len(stored)
    for row, line in zip(rows, stored, strict=True):
        assert row["target"] == line["target"] and row["phase"] == line["phase"]
        if line["ok"]:
            assert float(row["latency_s"]) == pytest.approx(line["timing"]["latency_ns"] / 1e9)
            server = line["timing"]["server"]
            assert int(row["eval_count"]) == server["eval_count"]
            assert float(row["eval_duration_s"]) == pytest.approx(server["eval_duration_ns"] / 1e9)
        else:
            assert row["latency_s"] == "" and row["error_kind"] == line["error"]["kind"]
    failed = [r for r in rows if r["error_kind"] == "http_500"]
    assert failed and all("\\x1b[2J" in r["error"] and "\x1b" not in r["error"] for r in failed)
    invalid = [r for r in rows if r["valid"] == "false"]
    assert invalid and all(r["score.overall"] == "0.0" for r in invalid)
    assert {"score.title", "score.datetime", "score.traffic_level"} <= set(rows[0])
    summary = rows_of(tmp_path / "v.summary.csv")
    by_name = {r["name"]: r for r in summary}
    assert by_name["gpu"]["vs_baseline.verdict"] == "faster" and by_name["cpu"]["failed"] == "3"
    assert float(by_name["gpu"]["vs_baseline.ci95.low"]) < float(
        by_name["gpu"]["vs_baseline.speedup"]
    )


def test_csv_cells_that_look_like_formulas_are_inert(tmp_path: Path) -> None:
    from ollama_bench.views.csv import cell

    assert [cell(v) for v in ("=HYPERLINK(1)", "+1", "-2", "@x", -2.5)] == [
        "'=HYPERLINK(1)",
        "'+1",
        "'-2",
        "'@x",
        "-2.5",
    ]


def test_csv_of_several_runs_goes_to_a_folder_named_after_each(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "csv"
    result = report(str(runs["infer"]), str(runs["train"]), "--format", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "infer.samples.csv",
        "infer.summary.csv",
        "train.samples.csv",
        "train.summary.csv",
    ]
    batches = rows_of(out / "infer.samples.csv")
    assert len(batches) == 3 * 5 * (2 + 12) and "latency_s" in batches[0]
    results = rows_of(out / "infer.summary.csv")
    assert len(results) == 15 and "vs_cpu.speedup_vs_cpu" in results[-1]
    epochs = rows_of(out / "train.samples.csv")
    assert [e["epoch"] for e in epochs[:3]] == ["1", "2", "3"]


def test_csv_needs_an_output(runs: dict[str, Path]) -> None:
    result = report(str(runs["vision"]), "--format", "csv")
    assert result.exit_code == 2 and "give -o" in result.stderr


def test_markdown_is_the_terminal_tables_escaped(runs: dict[str, Path]) -> None:
    result = report(str(runs["vision"]), "--format", "md")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("## vision · cctv")
    assert "| metric | gpu" in text and "|---|---:|" in text
    assert "| latency median |" in text and "| valid JSON | 75% |" in text
    assert "<script" not in text and "<img" not in text  # entities, shown as text
    assert "&lt;img src=x onerror=window.\\_\\_pwned=4&gt;" in text  # the image file name


def test_html_is_one_file_with_captioned_figures_and_no_way_out(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    result = report(*map(str, runs.values()), "--format", "html", "-o", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    tags = Tags(page).found
    assert "script" not in {tag for tag, _ in tags}
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]  # no handler
    links = [v or "" for _, attrs in tags for a, v in attrs.items() if a in ("src", "href")]
    assert links and all(v.startswith(("data:image/svg+xml;base64,", "#")) for v in links)
    assert [tag for tag, _ in tags].count("img") == page.count("<figure")  # the figures only
    assert "default-src 'none'" in page
    assert page.count("<figure") == page.count("<figcaption>") == len(SVG_URI.findall(page))
    assert page.count("<figure") == 6 + 4 + 1 + 2  # vision, infer, parallel, train
    assert SCRIPT.replace("<", "&lt;").replace(">", "&gt;") in page  # the version, as text
    assert "Failed and invalid requests (6)" in page
    assert str(escape(HOSTILE_REPLY)) in page  # the whole reply, expandable


def test_svg_figures_hold_no_markup_from_names(runs: dict[str, Path], tmp_path: Path) -> None:
    """Each figure, decoded, is an SVG document whose only elements are drawing ones, although
    image names, versions and device names hold HTML."""
    out = tmp_path / "r.html"
    report(str(runs["vision"]), str(runs["infer"]), "--format", "html", "-o", str(out))
    for encoded in SVG_URI.findall(out.read_text()):
        svg = base64.b64decode(encoded).decode()
        root = ET.fromstring(svg)
        tags = {element.tag.rsplit("}", 1)[-1] for element in root.iter()}
        assert tags <= {"svg", "metadata", "RDF", "Work", "type", "date", "creator", "Agent",
                        "title", "defs", "style", "g", "path", "use", "clipPath", "rect",
                        "format", "text", "tspan"}, tags  # fmt: skip
        attributes = {name for element in root.iter() for name in element.attrib}
        assert not {a for a in attributes if a.lower().startswith("on")}


def test_untrusted_labels_cannot_break_a_figure() -> None:
    assert figures.mpl_text("$\\frac{1}{0}$") == "\\$\\frac{1}{0}\\$"
    assert figures.mpl_text("_hidden") == " _hidden"


def test_html_without_matplotlib_says_how_to_get_it(
    runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ollama_bench.cnn import guard

    monkeypatch.setattr(guard, "missing", lambda *modules: list(modules))
    result = report(str(runs["vision"]), "--format", "html")
    assert result.exit_code == 2
    assert "matplotlib" in result.stderr and "pip install 'ollama-bench[plot]'" in result.stderr


def test_output_that_cannot_be_written_is_exit_2(runs: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = report(str(runs["train"]), "--format", "md", "-o", str(blocker / "r.md"))
    assert result.exit_code == 2 and "cannot write" in result.stderr


def test_failed_and_invalid_requests_are_listed_with_their_reasons(runs: dict[str, Path]) -> None:
    r = read_report(runs["vision"])
    assert isinstance(r, VisionReport)
    problems = r.detail.problems
    assert {(p.target, p.kind, p.error_kind) for p in problems} == {
        ("cpu", "failed", "http_500"),
        ("cpu", "failed", "reset"),
        ("gpu", "invalid", None),
    }
    invalid = next(p for p in problems if p.kind == "invalid")
    assert invalid.reply == HOSTILE_REPLY and invalid.field_errors
    assert any(HOSTILE_ERROR.split(" $")[0] in (p.error or "") for p in problems)
    assert any(p.image == HOSTILE_IMAGE for p in problems)
