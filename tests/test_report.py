"""obench report: one reader for every kind of run file, and each format it writes (tables, JSON,
CSV, Markdown, HTML), from a vision run with failures, invalid replies and hostile text, a load
run against a 1-slot and a 4-slot server, and CNN run files. The HTML in a real browser is
tests/test_report_browser.py."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import statistics
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape
from report_runs import (
    HOSTILE_ERROR,
    HOSTILE_IMAGE,
    HOSTILE_REPLY,
    HOSTILE_VERSION,
    SCRIPT,
    cnn_infer_run,
    cnn_parallel_run,
    cnn_train_run,
    load_run,
    vision_run,
)
from typer.testing import CliRunner, Result

from ollama_bench.cli import app
from ollama_bench.load.records import ORDER
from ollama_bench.load.summary import (
    Knee,
    LoadSummary,
    LoadTargetSummary,
    Percentiles,
    StepSummary,
)
from ollama_bench.runfiles import (
    InferReport,
    LoadReport,
    ParallelReport,
    TrainReport,
    VisionReport,
    read_report,
)
from ollama_bench.store import read_lines
from ollama_bench.views import figures
from ollama_bench.views.verdicts import load_verdict
from ollama_bench.vision.quality import Change

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
    """One vision run and one load run against two test servers each, and one CNN run file of
    each kind."""
    folder = tmp_path_factory.mktemp("runs")
    vision = vision_run(folder)
    return {
        "vision": vision,
        "load": load_run(folder),
        "infer": cnn_infer_run(folder / "infer.jsonl"),
        "parallel": cnn_parallel_run(folder / "parallel.jsonl"),
        "train": cnn_train_run(folder / "train.jsonl"),
    }


def test_one_reader_types_every_kind(runs: dict[str, Path]) -> None:
    kinds = {name: type(read_report(path)) for name, path in runs.items()}
    assert kinds == {
        "vision": VisionReport,
        "load": LoadReport,
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
    for title in ("Per target", ": throughput", "Measured batches", "Arms:", "Training"):
        assert title in result.stdout
    assert "\x1b" not in result.stdout  # the hostile error's escape code is shown, not obeyed


def test_json_one_file_is_an_object_several_a_list(runs: dict[str, Path]) -> None:
    one = json.loads(report(str(runs["vision"]), "--json").stdout)
    assert {t["name"] for t in one["targets"]} == {"gpu", "cpu"}
    (latency,) = [c["metrics"]["latency"] for c in one["comparisons"]]
    assert latency["verdict"] == "faster" and 4 < latency["speedup"] < 8  # 6× slower server
    # each image's speed-up is cpu's median latency over gpu's, of completed measured requests
    done: dict[tuple[str, str], list[int]] = {}
    for r in read_lines(runs["vision"]):
        if r["kind"] == "sample" and r["phase"] == "measured" and r["ok"]:
            done.setdefault((r["target"], r["image"]), []).append(r["timing"]["latency_ns"])
    assert len(latency["images"]) == 4
    for image in latency["images"]:
        cpu, gpu = (statistics.median(done[name, image["image"]]) for name in ("cpu", "gpu"))
        assert image["speedup"] == pytest.approx(cpu / gpu, rel=1e-6), image["image"]
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
    assert page.count("<figure") == 6 + 5 + 4 + 1 + 2  # vision, load, infer, parallel, train
    assert SCRIPT.replace("<", "&lt;").replace(">", "&gt;") in page  # the version, as text
    assert "Failed and invalid requests (6)" in page
    assert str(escape(HOSTILE_REPLY)) in page  # the whole reply, expandable


def test_svg_figures_hold_no_markup_from_names(runs: dict[str, Path], tmp_path: Path) -> None:
    """Each figure, decoded, is an SVG document whose only elements are drawing ones, although
    image names, versions and device names hold HTML."""
    out = tmp_path / "r.html"
    report(
        *map(str, (runs["vision"], runs["load"], runs["infer"])), "--format", "html", "-o", str(out)
    )
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


def test_a_field_name_that_is_mathtext_cannot_break_the_quality_figure() -> None:
    change = Change(delta=0.1, ci95=(0.0, 0.2), verdict="better", images=2, pairs=4)
    quality = {"valid_rate": change, "$\\nosuch$": change, "overall": change}
    chart = figures.quality_chart(quality, target="gpu", baseline="cpu", key="quality-0")
    assert chart is not None


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


def test_tables_written_to_a_new_folder_as_every_format_is(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "new" / "dir" / "r.txt"
    result = report(str(runs["train"]), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in " ".join(result.stderr.split())
    text = out.read_text()
    assert text.strip() and "\x1b" not in text
    assert max(map(len, text.splitlines())) <= 120


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


# -- load runs -----------------------------------------------------------------------------------


def test_load_json_is_what_obench_load_printed(runs: dict[str, Path]) -> None:
    printed = json.loads(runs["load"].with_suffix(".printed.json").read_text())
    result = report(str(runs["load"]), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == printed  # the same summary, again from the file
    assert [t["name"] for t in summary["targets"]] == ["one", "four"]
    for target in summary["targets"]:
        assert [s["label"] for s in target["steps"]] == [
            "c=1",
            "c=2",
            "c=4",
            "10 req/s",
            "50 req/s",
        ]
        assert [k["mode"] for k in target["knees"]] == ["concurrency", "rate"]
    assert summary["order"] == ORDER and summary["slo_latency_s"] == 0.15


def test_load_table_shows_both_tables_per_target_and_the_knees(runs: dict[str, Path]) -> None:
    result = report(str(runs["load"]))
    assert result.exit_code == 0, result.output
    text = result.stdout
    for name in ("one", "four"):
        assert f"{name}: queueing, streaming and energy" in text
        assert f"{name} (closed loop): " in text and f"{name} (open loop): " in text
    assert "goodput/s ≤ 150 ms" in text and "targets loaded one target at a time" in text
    assert f"Ollama {HOSTILE_VERSION}" in " ".join(text.split())  # shown, not interpreted
    assert "\x1b" not in text


def test_load_tables_fit_80_columns(runs: dict[str, Path]) -> None:
    result = CliRunner().invoke(app, ["report", str(runs["load"])], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    rows = [line for line in lines if line.startswith((" c=", " 10 req/s", " 50 req/s"))]
    assert len(rows) == 2 * 3 * 5  # two targets, three tables, five steps
    # every value on its row, whole: headers wrap instead
    assert all(len(line) <= 80 and "…" not in line for line in rows), "\n".join(rows)
    # energy is not measurable here: its columns are left out rather than shown empty
    assert not [line for line in lines if "J/request" in line or "J/output" in line]


def test_load_csv_rows_per_request_and_per_target_and_step(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    result = report(str(runs["load"]), "--format", "csv", "-o", str(tmp_path / "l"))
    assert result.exit_code == 0, result.output
    rows = rows_of(tmp_path / "l.samples.csv")
    stored = [r for r in read_lines(runs["load"]) if r["kind"] == "sample"]
    labels = {s["index"]: s for s in read_lines(runs["load"])[0]["steps"]}
    assert len(rows) == len(stored) == 2 * (1 + 5 * 8)
    for row, line in zip(rows, stored, strict=True):
        step = labels.get(line["step"])
        assert (row["target"], row["phase"]) == (line["target"], line["phase"])
        if step is None:
            assert row["step_label"] == "warm-up" and row["phase"] == "warmup"
        else:
            closed = step["mode"] == "concurrency"
            label = f"c={step['concurrency']}" if closed else f"{step['rate_per_s']:g} req/s"
            assert row["step_label"] == label
        assert float(row["sent_s"]) == pytest.approx(line["sent_ns"] / 1e9)
        assert int(row["in_flight"]) == line["in_flight"]
        rate = step is not None and step["mode"] == "rate"
        assert (row["scheduled_s"] != "") == rate and (row["lag_s"] != "") == rate
        if rate:
            assert float(row["lag_s"]) == pytest.approx(line["lag_ns"] / 1e9)
        if line["ok"]:
            timing = line["timing"]
            server = timing["server"]
            assert float(row["latency_s"]) == pytest.approx(timing["latency_ns"] / 1e9)
            assert float(row["ttft_s"]) == pytest.approx(timing["ttft_ns"] / 1e9)
            assert int(row["eval_count"]) == server["eval_count"]
            work = sum(server[f"{part}_duration_ns"] for part in ("load", "prompt_eval", "eval"))
            assert float(row["queue_s"]) == pytest.approx((timing["latency_ns"] - work) / 1e9)
        else:
            assert row["latency_s"] == "" and row["error_kind"] == line["error"]["kind"]
    failed = [r for r in rows if r["error_kind"] == "http_500"]
    assert len(failed) == 2 and all(r["target"] == "one" for r in failed)
    assert all("\\x1b[2J" in r["error"] and "\x1b" not in r["error"] for r in failed)
    summary = json.loads(report(str(runs["load"]), "--json").stdout)
    steps = rows_of(tmp_path / "l.summary.csv")
    assert len(steps) == 2 * 5
    for row in steps:
        (target,) = [t for t in summary["targets"] if t["name"] == row["target"]]
        (step,) = [s for s in target["steps"] if s["label"] == row["label"]]
        (knee,) = [k for k in target["knees"] if k["mode"] == step["mode"]]
        assert row["knee"] == ("true" if knee["step"] == step["step"] else "false")
        assert row["knee_reason"] == knee["reason"]
        assert float(row["throughput_per_s"]) == pytest.approx(step["throughput_per_s"])
        assert float(row["latency_s.p99"]) == pytest.approx(step["latency_s"]["p99"])
        assert (row["lag_s.p99"] != "") == (step["mode"] == "rate")
    assert {r["errors.http_500"] for r in steps if r["target"] == "one"} >= {"1"}


def test_load_markdown_opens_with_the_verdict(runs: dict[str, Path]) -> None:
    result = report(str(runs["load"]), "--format", "md")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("## load · cctv · llama3.2-vision · load.jsonl\n\n")
    verdict = text.split("\n\n")[1]
    assert verdict.startswith("one ") and "four " in verdict
    assert verdict.endswith("the targets were loaded one after another, never together.")
    assert "| step | requests (failed) | req/s | served / offered |" in text
    assert "<script" not in text and "&lt;script&gt;" in text


def test_load_html_section_has_its_figures_and_the_run_header(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "load.html"
    result = report(str(runs["load"]), "--format", "html", "-o", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    tags = Tags(page).found
    assert "script" not in {tag for tag, _ in tags}
    ids = [attrs["id"] for tag, attrs in tags if tag == "figure"]
    assert ids == [
        f"run-1-load-{key}" for key in ("throughput", "latency", "queue", "goodput", "served")
    ]
    assert len(SVG_URI.findall(page)) == 5 and page.count("<figcaption>") == 5
    for caption in re.findall(r"<figcaption>(.*?)</figcaption>", page, re.S):
        assert len(caption) > 300  # what it shows and how it was computed
    assert "Knees: one at c=" in page and "four " in page
    assert "never together." in page
    for title in ("Steps (the same for every target)", "Steps as run", "Targets", "Host"):
        assert f"<caption>{title}</caption>" in page
    assert str(escape(HOSTILE_VERSION)) in page and str(escape(HOSTILE_IMAGE)) in page
    assert "p99 of one rests on fewer than 100 requests" in page  # the warnings


def _step(index: int, level: float, throughput: float, share: float | None = None) -> StepSummary:
    rate = share is not None
    return StepSummary(
        step=index,
        mode="rate" if rate else "concurrency",
        label=f"{level:g} req/s" if rate else f"c={level:g}",
        concurrency=None if rate else int(level),
        rate_per_s=level if rate else None,
        offered_per_s=level if rate else None,
        served_per_s=level * share if share is not None else None,
        sent=8,
        completed=8,
        failed=0,
        in_flight_max=int(level),
        elapsed_s=8 / throughput,
        throughput_per_s=throughput,
        output_tokens_per_s=throughput * 8,
        latency_s=Percentiles(n=8, p50=0.1 * level),
        ttft_s=Percentiles(n=8),
        queue_s=Percentiles(n=8),
    )


def _target(name: str, steps: list[StepSummary], knees: list[Knee]) -> LoadTargetSummary:
    return LoadTargetSummary(name=name, url="http://x", steps=steps, knees=knees)


def test_load_verdict_says_where_each_target_saturates() -> None:
    gpu = _target(
        "gpu",
        [
            _step(0, 1, 10),
            _step(1, 2, 19),
            _step(2, 4, 20),
            _step(3, 1, 1, 0.98),
            _step(4, 2, 1.2, 0.6),
        ],
        [
            Knee(
                mode="concurrency",
                step=1,
                label="c=2",
                level=2,
                throughput_per_s=19,
                reason="c=4 offered 100% more load for +5% throughput",
            ),
            Knee(
                mode="rate",
                step=3,
                label="1 req/s",
                level=1,
                throughput_per_s=1,
                reason="2 req/s was served at 60% of its rate",
            ),
        ],
    )
    cpu = _target(
        "cpu",
        [_step(0, 1, 1), _step(1, 2, 2), _step(2, 4, 4), _step(3, 0.5, 0.3, 0.5)],
        [
            Knee(mode="concurrency", step=None, reason="knee not reached"),
            Knee(mode="rate", step=None, reason="knee below 0.5 req/s"),
        ],
    )
    cpu.steps[1].failed = 3
    down = LoadTargetSummary(name="down", url="http://y", usable=False, steps=[], knees=[])
    summary = LoadSummary(
        run_file="x.jsonl",
        scenario="cctv",
        model="m",
        structured=True,
        targets=[gpu, cpu, down],
        warnings=[],
    )
    assert load_verdict(summary) == (
        "gpu saturates at c=2 (19.0 req/s, 152.0 output tok/s, p50 latency 200 ms); "
        "gpu keeps up with up to 1 req/s (p50 latency 100 ms; 2 req/s was served at 60% of its "
        "rate); cpu did not saturate up to c=4 (4.0 req/s there); cpu fell behind even at "
        "0.5 req/s (served at 50% of the rate); cpu failed 3 of 32 requests; down was not "
        "loaded (unusable); the targets were loaded one after another, never together."
    )
    cpu.steps = cpu.steps[:1] + cpu.steps[3:]  # c=1 and 0.5 req/s, now kept up with
    cpu.steps[-1].served_per_s = 0.49
    cpu.knees = [cpu.knees[0], Knee(mode="rate", step=None, reason="knee not reached")]
    alone = summary.model_copy(update={"targets": [cpu], "interrupted": True})
    assert load_verdict(alone) == (
        "Interrupted, partial results: cpu ran one concurrency level only, so it shows no knee; "
        "cpu kept up with every rate up to 0.5 req/s."
    )


def test_compare_refuses_a_load_run_in_one_line(runs: dict[str, Path]) -> None:
    result = CliRunner().invoke(app, ["compare", str(runs["load"]), str(runs["vision"])])
    assert result.exit_code == 2
    assert "is a load run: obench compare compares vision runs" in result.stderr
