"""`obench report`: one or more stored runs of any kind as tables, JSON, CSV, Markdown or HTML.

Several files give one document (a section per file) in every format but CSV, which writes
two files per run (see `csv_paths`).
"""

from __future__ import annotations

import io
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ollama_bench.cli.app import app
from ollama_bench.cnn import guard
from ollama_bench.console import err_console, fail
from ollama_bench.errors import ObenchError, UsageError
from ollama_bench.runfiles import ComparedRuns, Report, compare_files, read_report
from ollama_bench.untrusted import printable

REPORT_EXIT_CODES = (
    "Exit codes: 0 written; 2 a file cannot be read or is no run file, an option is wrong, the "
    "output cannot be written, or --format html lacks matplotlib (the plot extra)."
)
HTML_HINT = "pip install 'ollama-bench[plot]'"


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    md = "md"
    html = "html"


FormatOpt = Annotated[
    Format,
    typer.Option(
        "--format",
        envvar="OBENCH_REPORT_FORMAT",
        help="table: the terminal's tables; json: the summary (a list for several files); "
        "csv: a row per request and a summary row per target (two files, needs -o); md: the "
        "tables as Markdown; html: one self-contained page with figures (needs matplotlib).",
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        envvar="OBENCH_REPORT_OUTPUT",
        help="Write here instead of stdout. CSV: a name stem (one run: STEM.samples.csv and "
        "STEM.summary.csv) or a folder (several runs: one pair per run, named after it).",
    ),
]


def require_matplotlib() -> None:
    """The HTML report's figures need the plot extra: one line and exit 2 without it."""
    if guard.missing("matplotlib"):
        raise UsageError(
            "the HTML report draws its figures with matplotlib, which is not installed",
            HTML_HINT,
        )


def write_text(text: str, output: Path | None) -> None:
    """`text` to `output`, or to stdout without one; a file that cannot be written is exit 2."""
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot write {output}: {exc.strerror}", "pass another --output"
        ) from None
    err_console.print(f"wrote {printable(str(output))}", highlight=False)


def csv_paths(reports: list[Report], output: Path | None) -> list[tuple[Path, Path]]:
    """Where each run's two CSV files go: `-o results` (or `results.csv`) with one run gives
    results.samples.csv and results.summary.csv; a folder (an existing one, a path ending in
    `/`, or any -o with several runs) gets `<run file name>.samples.csv` and `.summary.csv`."""
    if output is None:
        raise UsageError("--format csv writes two files", "give -o STEM (or a folder)")
    folder = len(reports) > 1 or output.is_dir() or str(output).endswith(("/", "\\"))
    if not folder:
        stem = output.with_suffix("") if output.suffix == ".csv" else output
        return [
            (stem.with_name(stem.name + ".samples.csv"), stem.with_name(stem.name + ".summary.csv"))
        ]
    pairs = [
        (output / f"{r.path.stem}.samples.csv", output / f"{r.path.stem}.summary.csv")
        for r in reports
    ]
    if len({p for pair in pairs for p in pair}) < 2 * len(pairs):
        raise UsageError("two run files have the same name", "report them into separate folders")
    return pairs


def emit(reports: list[Report] | list[ComparedRuns], fmt: Format, output: Path | None) -> None:
    """Every format of `obench report` and `obench compare`."""
    if fmt is Format.table:
        from ollama_bench.views.kinds import kind

        if output is None:
            for report in reports:
                kind(report).render(Console())
            return
        buffer = io.StringIO()  # a file gets plain text, as wide as a wide terminal
        console = Console(file=buffer, width=120, color_system=None)
        for report in reports:
            kind(report).render(console)
        write_text(buffer.getvalue(), output)
        return
    if fmt is Format.json:
        from ollama_bench.views.kinds import kind

        dumps = [kind(r).summary.model_dump(mode="json") for r in reports]
        write_text(json.dumps(dumps[0] if len(dumps) == 1 else dumps, indent=2) + "\n", output)
    elif fmt is Format.md:
        from ollama_bench.views.markdown import report_markdown

        write_text(report_markdown(reports), output)
    elif fmt is Format.html:
        require_matplotlib()
        from ollama_bench.views.html import render_html

        compared = any(isinstance(r, ComparedRuns) for r in reports)
        write_text(
            render_html(reports, title="obench compare" if compared else "obench report"), output
        )
    elif fmt is Format.csv:
        from ollama_bench.views.csv import sample_rows, summary_rows, to_csv

        runs = [r for r in reports if not isinstance(r, ComparedRuns)]
        if len(runs) < len(reports):
            raise UsageError(
                "obench compare writes no CSV",
                "use --format json, or obench report --format csv on each run",
            )
        for report, (samples, summary) in zip(runs, csv_paths(runs, output), strict=True):
            write_text(to_csv(sample_rows(report)), samples)
            write_text(to_csv(summary_rows(report)), summary)


@app.command(epilog=REPORT_EXIT_CODES)
def report(
    run_files: Annotated[
        list[Path],
        typer.Argument(
            help="Run files written by obench vision, obench load or obench cnn (infer, parallel, "
            "train).",
            show_default=False,
        ),
    ],
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Summarise stored runs again: tables, JSON, CSV, Markdown, or one HTML page with figures.

    Runs that were interrupted or killed are read as far as they got. Several files give one
    page (HTML, Markdown) or one JSON list; CSV writes a samples and a summary file per run.
    """
    try:
        reports = [read_report(path) for path in run_files]
        emit(reports, Format.json if json_output else fmt, output)
    except ObenchError as exc:
        raise fail(exc, debug) from None


COMPARE_EXIT_CODES = (
    "Exit codes: 0 compared; 2 a file cannot be read or is no vision run, the runs' scenarios or "
    "images differ (without --force), an option is wrong, or the output cannot be written."
)


@app.command(epilog=COMPARE_EXIT_CODES)
def compare(
    run_a: Annotated[
        Path, typer.Argument(help="The run before the change: the baseline.", show_default=False)
    ],
    run_b: Annotated[Path, typer.Argument(help="The run after the change.", show_default=False)],
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            envvar="OBENCH_COMPARE_FORCE",
            help="Compare runs of different scenarios or images too (only the images both ran "
            "are paired).",
        ),
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Compare two vision runs of one scenario, e.g. before and after an upgrade.

    Samples are paired by target and image; for each target both runs measured, every metric's
    change from A to B comes with its 95% CI and a verdict (> 1: B is better), as speed-ups do
    within a run. Differences in model, server version, options or request settings are
    named as warnings.
    """
    try:
        compared = compare_files(run_a, run_b, force=force)
        emit([compared], Format.json if json_output else fmt, output)
    except ObenchError as exc:
        raise fail(exc, debug) from None
