"""Rendering only: rich tables and a progress bar for people, JSON for programs.

Nothing here measures or computes a statistic; it formats a RunSummary (summary.py). Every
public entry makes its input printable first (untrusted.py: rich markup escaped, control
characters and escape sequences shown, not obeyed): versions, digests, error texts and names come
from servers or from a run file, and reach the terminal only that way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ollama_bench.itl import ItlSummary
from ollama_bench.models import Api, Sample, TargetInfo
from ollama_bench.ops.energy import EnergySummary
from ollama_bench.untrusted import printable, sanitised
from ollama_bench.vision.preflight import Notice
from ollama_bench.vision.quality import Change
from ollama_bench.vision.runner import Step
from ollama_bench.vision.summary import (
    Comparison,
    ImageComparison,
    RunSummary,
    Stat,
    TargetSummary,
    Warning,
)

METRIC_LABELS = {
    "latency": "latency",
    "ttft": "TTFT",
    "prompt_rate": "prompt tokens/s",
    "decode_rate": "decode tokens/s",
}


def fmt_seconds(value: float | None) -> str:
    """`0.0123` → `12.3 ms`, `4.56` → `4.56 s`, None → `–`."""
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 1000:.3g} ms" if value < 0.1 else f"{value * 1000:.0f} ms"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def fmt_rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def fmt_share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def fmt_bytes(value: int | None) -> str:
    """Binary units, as docker stats shows memory: `452 KiB`, `7.28 GiB`, None → `–`."""
    if value is None:
        return "–"
    size, unit = float(value), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            break
        size /= 1024
    return f"{size:.0f} {unit}" if unit in ("B", "KiB") or size >= 100 else f"{size:.3g} {unit}"


def fmt_pct_pair(mean: float | None, peak: float | None) -> str:
    """`mean / peak` percentages, e.g. `96% / 101%`."""
    if mean is None:
        return "–"
    return f"{mean:.0f}% / {peak if peak is not None else mean:.0f}%"


def _placement(t: TargetSummary) -> str:
    if t.api == "openai":
        return _UNREPORTED
    if t.placement is None:
        return "–"
    label = t.placement.label
    return "unknown (not loaded)" if label == "not loaded" else label


def _memory(t: TargetSummary) -> str:
    return fmt_bytes(t.utilisation.memory_bytes_peak) if t.utilisation else "–"


def _gpu(t: TargetSummary) -> str:
    u = t.utilisation
    return fmt_pct_pair(u.gpu_pct_mean, u.gpu_pct_peak) if u else "–"


def _cpu(t: TargetSummary) -> str:
    u = t.utilisation
    if u is None or u.window is None:
        return "–"
    run = " (run)" if u.window == "run" else ""
    return fmt_pct_pair(u.cpu_pct_mean, u.cpu_pct_peak) + run


def fmt_itl(itl: ItlSummary | None) -> str:
    """`p50 / p99` of the inter-chunk gaps, e.g. `4.1 ms / 9.8 ms`."""
    return "–" if itl is None else f"{fmt_seconds(itl.p50_s)} / {fmt_seconds(itl.p99_s)}"


def fmt_stalls(itl: ItlSummary | None) -> str:
    """Stalled gaps and the requests they hit: `2 in 1 request`, `0`, or `–`."""
    if itl is None or itl.stalls is None:
        return "–"
    if not itl.stalls:
        return "0"
    plural = "" if itl.stalled_requests == 1 else "s"
    return f"{itl.stalls} in {itl.stalled_requests} request{plural}"


def fmt_energy(e: EnergySummary | None, per: str, *, sources: bool = True) -> str:
    """Joules per completed request (with the sources measured, unless a narrow table leaves
    them out) or per output token; "too few readings" when the readings do not cover it."""
    if e is None:
        return "–"
    if e.note:
        return "too few readings"
    value = e.joules_per_output_token if per == "token" else e.joules_per_request
    if value is None:
        return "–"
    named = per == "request" and sources
    return f"{value:.3g} J ({' + '.join(e.sources)})" if named else f"{value:.3g} J"


def _accuracy(t: TargetSummary) -> str:
    """`98% (6 images)`: the share, how many images it rests on, and, when the target leaves
    fields unanswered, over how many fields: `100% (6 images, 2 of 3 fields)`."""
    if not t.images:
        return "[dim]– (text only)[/dim]"
    share = t.accuracy.get("overall")
    if share is None:
        return "–"
    notes = []
    if n := t.accuracy_images:
        notes.append(f"{n} image{'' if n == 1 else 's'}")
    if t.unanswered:
        notes.append(_answered(t))
    return f"{fmt_share(share)} ({', '.join(notes)})" if notes else fmt_share(share)


def _spread(stat: Stat) -> str:
    if stat.mean is None:
        return "–"
    sd = "" if stat.stdev is None else f" ± {fmt_seconds(stat.stdev)}"
    return f"{fmt_seconds(stat.mean)}{sd}"


def _range(stat: Stat) -> str:
    return "–" if stat.min is None else f"{fmt_seconds(stat.min)} – {fmt_seconds(stat.max)}"


#: Rows that show a server's own figure, and the figure (TargetSummary.unreported names it when
#: the server does not report it: then the row says so instead of showing a dash).
SERVER_FIGURES = {
    "cold load": "cold_load_s",
    "prompt tokens/s": "prompt_tokens_per_s",
    "decode tokens/s": "decode_tokens_per_s",
    "client − server gap": "gap_s",
}
_UNREPORTED = "[dim]not reported by this server[/dim]"


def server_label(api: Api, server: str | None, version: str | None) -> str | None:
    """What serves a target, in one phrase for every view: "Ollama 0.5.1", "llama.cpp b4567"
    ("OpenAI API" when an OpenAI-compatible server does not say which), the OCR baseline's
    package and version; None when nothing is known.

    >>> server_label("ollama", None, "0.5.1"), server_label("openai", None, None)
    ('Ollama 0.5.1', 'OpenAI API')
    """
    if api == "openai":
        return " ".join(p for p in (server or "OpenAI API", version) if p)
    if version is None:
        return None
    return f"Ollama {version}" if api == "ollama" else version


def _column_label(t: TargetSummary) -> str:
    if t.version is None and t.api == "ollama" and t.images:
        return t.name
    server = server_label(t.api, t.server, t.version)
    about = [t.url] if server is None else [t.url, server]
    label = f"{t.name}\n[dim]{' · '.join(about)}[/dim]"
    return label if t.images else f"{label}\n[bold]text only: no image sent[/bold]"


def target_table(targets: Sequence[TargetSummary]) -> Table:
    """Metrics down, targets across: stays readable in 80 columns with a few targets."""
    table = Table(title="Per target (measured requests only)", title_justify="left")
    table.add_column("metric")
    for t in targets:
        table.add_column(_column_label(t), justify="right")
    rows: list[tuple[str, list[str]]] = [
        (
            "requests (failed)",
            [f"{t.samples} ({t.failed})" if t.usable else "unusable" for t in targets],
        ),
        ("valid JSON", [fmt_share(t.valid_rate) for t in targets]),
        ("accuracy", [_accuracy(t) for t in targets]),
        ("same reply every round", [fmt_share(t.repeat_identical_rate) for t in targets]),
        ("latency median", [fmt_seconds(t.latency_s.median) for t in targets]),
        ("latency p90", [fmt_seconds(t.latency_s.p90) for t in targets]),
        ("latency mean ± sd", [_spread(t.latency_s) for t in targets]),
        ("latency min – max", [_range(t.latency_s) for t in targets]),
        ("TTFT median", [fmt_seconds(t.ttft_s.median) for t in targets]),
        ("cold load", [fmt_seconds(t.cold_load_s) for t in targets]),
        ("prompt tokens/s", [fmt_rate(t.prompt_tokens_per_s.median) for t in targets]),
        ("decode tokens/s", [fmt_rate(t.decode_tokens_per_s.median) for t in targets]),
        ("ITL p50 / p99 (client)", [fmt_itl(t.itl) for t in targets]),
        ("stalls (gap > 10× median)", [fmt_stalls(t.itl) for t in targets]),
        ("client − server gap", [fmt_seconds(t.gap_s.median) for t in targets]),
        ("placement (ollama ps)", [_placement(t) for t in targets]),
    ]
    if any(t.utilisation for t in targets):
        rows += [
            ("container CPU mean / peak", [_cpu(t) for t in targets]),
            ("container memory peak", [_memory(t) for t in targets]),
            ("GPU mean / peak (requests)", [_gpu(t) for t in targets]),
        ]
    if any(t.energy for t in targets):
        rows += [
            ("energy / request", [fmt_energy(t.energy, "request") for t in targets]),
            ("energy / output token", [fmt_energy(t.energy, "token") for t in targets]),
        ]
    for name, cells in rows:
        figure = SERVER_FIGURES.get(name)
        pairs = zip(targets, cells, strict=True)
        table.add_row(name, *[_UNREPORTED if figure in t.unreported else c for t, c in pairs])
    return table


def _answered(t: TargetSummary) -> str:
    fields = [k for k in t.accuracy if k != "overall"]
    answered = [f for f in fields if f not in t.unanswered]
    return f"{len(answered)} of {len(fields)} fields"


def _field_accuracy(t: TargetSummary, field: str) -> str:
    """A field's share; `not answered` for a field the target leaves unanswered by design."""
    if field == "overall":
        share = t.accuracy.get("overall")
        return (
            f"{fmt_share(share)} ({_answered(t)})"
            if t.unanswered and share is not None
            else fmt_share(share)
        )
    if t.accuracy.get(field) is None and field in t.unanswered:
        return "[dim]not answered[/dim]"
    return fmt_share(t.accuracy.get(field))


def accuracy_table(targets: Sequence[TargetSummary]) -> Table | None:
    targets = [t for t in targets if t.images]  # text-only targets saw no image to be right about
    fields = [k for k in targets[0].accuracy if k != "overall"] if targets else []
    if not fields or all(t.accuracy.get("overall") is None for t in targets):
        return None
    table = Table(title="Accuracy by field", title_justify="left")
    table.add_column("field")
    for t in targets:
        table.add_column(t.name, justify="right")
    for field in [*fields, "overall"]:
        table.add_row(field, *[_field_accuracy(t, field) for t in targets])
    return table


def fmt_points(value: float) -> str:
    """A change of a [0, 1] share in percentage points: `-0.1` → `−10.0`, `0.0` → `0.0`."""
    points = value * 100
    sign = "+" if points >= 0.05 else "−" if points <= -0.05 else ""
    return f"{sign}{abs(points):.1f}"


def quality_rows(
    quality: Mapping[str, Change], identical: tuple[float | None, int]
) -> list[tuple[str, str, str, str]]:
    """(figure, change, 95% CI, verdict) per score, valid JSON first and overall last, then the
    share of identical replies (rate, pairs) when there is one."""
    names = {"valid_rate": "valid JSON"}
    order = ["valid_rate", *[k for k in quality if k not in ("valid_rate", "overall")], "overall"]
    rows = []
    for key in (k for k in order if k in quality):
        change = quality[key]
        ci = "–" if change.ci95 is None else " – ".join(fmt_points(v) for v in change.ci95)
        rows.append(
            (names.get(key, key), fmt_points(change.delta), ci, fmt_verdict(change.verdict))
        )
    rate, pairs = identical
    if rate is not None:
        rows.append(("identical replies", f"{fmt_share(rate)} of {pairs}", "", ""))
    return rows


def quality_table(summary: RunSummary) -> Table | None:
    """Per comparison: each score's change against the baseline, and how often replies agree."""
    if not any(c.quality or c.identical_reply_pairs for c in summary.comparisons):
        return None
    # One comparison names its pair in the title, so that the table fits 80 columns.
    single = len(summary.comparisons) == 1
    first = summary.comparisons[0]
    pair = f", {first.target} vs {first.baseline}" if single else " vs baseline"
    table = Table(
        title=f"Quality{pair} (points, paired by image and round)",
        title_justify="left",
    )
    columns = ("figure", "change", "95% CI", "verdict")
    for column in columns if single else ("target", *columns):
        table.add_column(column, justify="right" if column.startswith(("change", "95")) else "left")
    for c in summary.comparisons:
        identical = (c.identical_reply_rate, c.identical_reply_pairs)
        for i, row in enumerate(quality_rows(c.quality, identical)):
            lead = [] if single else [f"{c.target} vs {c.baseline}" if i == 0 else ""]
            table.add_row(*lead, *row)
        table.add_section()
    return table


def reply_differences(summary: RunSummary) -> list[str]:
    """One line per comparison: the first (image, round) where the replies differ.

    `summary` must be printable already (render sanitises it): the values are a model's text.
    """
    lines = []
    for c in summary.comparisons:
        d = c.reply_difference
        if d is None:
            continue
        where = f"{d.path}: " if d.path else "reply: "
        lines.append(
            f"{c.target} vs {c.baseline} differ first at {d.image} round {d.round + 1}, "
            f"{where}{d.target} vs {d.baseline}"
        )
    return lines


def fmt_ci(ci95: tuple[float, float] | None, sep: str = " – ") -> str:
    """A ratio's 95% CI, × at both ends, for every table and verdict line to write alike;
    `sep="–"` where a table is tight or the interval is inside a sentence.

    >>> fmt_ci((1.234, 2.5)), fmt_ci((1.234, 2.5), "–"), fmt_ci(None)
    ('1.23× – 2.50×', '1.23×–2.50×', '–')
    """
    return "–" if ci95 is None else f"{ci95[0]:.2f}×{sep}{ci95[1]:.2f}×"


def fmt_verdict(verdict: str) -> str:
    """A verdict in rich markup: green for the target's gain, red for its loss, else yellow."""
    colour = {"faster": "green", "better": "green", "slower": "red", "worse": "red"}.get(
        verdict, "yellow"
    )
    return f"[{colour}]{verdict}[/{colour}]"


def speedup_table(summary: RunSummary) -> Table | None:
    """Every metric's paired speed-up of each target over the baseline."""
    if not summary.comparisons:
        return None
    table = Table(
        title="Speed-up over the baseline, paired by image (> 1: the target is faster)",
        title_justify="left",
    )
    for column in ("target", "vs baseline", "metric", "speed-up", "95% CI", "verdict"):
        table.add_column(column, justify="right" if column.startswith(("speed", "95")) else "left")
    for c in summary.comparisons:
        for metric, label in METRIC_LABELS.items():
            m = c.metrics.get(metric)
            if m is None:
                continue
            table.add_row(
                c.target,
                c.baseline,
                label,
                f"{m.speedup:.2f}×",
                fmt_ci(m.ci95),
                fmt_verdict(m.verdict),
            )
    return table


def image_table(c: Comparison) -> Table:
    """Each image's median latency on both targets: which images drive the speed-up."""
    title = f"Latency by image: {c.target} vs {c.baseline} (medians)"
    return image_ratio_table(title, (c.baseline, c.target, "speed-up", "n"), c.images)


def image_ratio_table(
    title: str, columns: tuple[str, str, str, str], images: Sequence[ImageComparison]
) -> Table:
    """Per image: baseline and target medians, their ratio and sample counts; a note column only
    when some image is far from the rest (vision's comparisons and run-vs-run alike)."""
    table = Table(title=title, title_justify="left")
    table.add_column("image")
    for column in columns:
        table.add_column(column, justify="right")
    flagged = any(i.outlier for i in images)
    if flagged:
        table.add_column("note")
    for i in images:
        note = ["[yellow]far from the rest[/yellow]" if i.outlier else ""] if flagged else []
        table.add_row(
            i.image,
            fmt_seconds(i.baseline_s),
            fmt_seconds(i.target_s),
            f"{i.speedup:.2f}×",
            f"{i.baseline_n} / {i.target_n}",
            *note,
        )
    return table


def size_tables(summary: RunSummary) -> list[Table]:
    """The image-size sweep: each size and target, smallest size first; the speed-up per size."""
    sweep = summary.sizes
    if sweep is None:
        return []
    table = Table(title="By image size (longest side)", title_justify="left")
    columns = ["size", "target", "image (median)", "requests (failed)", "latency median"]
    columns += ["latency p90", "TTFT median", "prompt tokens", "accuracy"]
    for name in columns:
        table.add_column(name, justify="left" if name in ("size", "target") else "right")
    previous = None
    for row in sweep.rows:
        size = f"{row.side_px} px" if row.side_px != previous else ""
        previous = row.side_px
        tokens = "–" if row.prompt_tokens_median is None else f"{row.prompt_tokens_median:.0f}"
        table.add_row(
            size,
            row.target,
            fmt_bytes(round(row.bytes_median)),
            f"{row.requests} ({row.failed})",
            fmt_seconds(row.latency_median_s),
            fmt_seconds(row.latency_p90_s),
            fmt_seconds(row.ttft_median_s),
            tokens,
            fmt_share(row.accuracy),
        )
    tables = [table]
    if sweep.comparisons:
        speed = Table(title="Speed-up by image size", title_justify="left")
        for name in ("size", "target", "vs baseline", "speed-up", "95% CI", "verdict"):
            speed.add_column(name, justify="right" if name in ("speed-up", "95% CI") else "left")
        for c in sweep.comparisons:
            speed.add_row(
                f"{c.side_px} px",
                c.target,
                c.baseline,
                f"{c.speedup:.2f}×",
                fmt_ci(c.ci95),
                fmt_verdict(c.verdict),
            )
        tables.append(speed)
    return tables


def render(summary: RunSummary, console: Console) -> None:
    summary = sanitised(summary)
    sent = "schema" if summary.structured else "none"
    title = f"[bold]{summary.scenario}[/bold] · {summary.model} · format {sent}"
    if summary.interrupted:
        title += " · [yellow]interrupted: partial results[/yellow]"
    console.print(title)
    for table in (
        target_table(summary.targets),
        accuracy_table(summary.targets),
        *[image_table(c) for c in summary.comparisons if len(c.images) > 1],
        speedup_table(summary),
        quality_table(summary),
        *size_tables(summary),
    ):
        if table is not None:
            console.print(table)
    for line in reply_differences(summary):
        console.print(line, highlight=False)
    if summary.stop is not None:
        resumed = f" · {summary.segments} segments read as one run" if summary.segments > 1 else ""
        console.print(f"stop: {summary.stop.message}{resumed}")
    if summary.energy_note:
        console.print(f"[dim]{summary.energy_note}[/dim]")
    print_warnings(summary.warnings, console)
    console.print(f"run file: {summary.run_file}")


def print_warnings(warnings: Sequence[Warning], console: Console) -> None:
    """One line each; the caller has sanitised them (messages quote what servers said)."""
    for w in warnings:
        where = f"{w.target}: " if w.target else ""
        hint = f" [dim]({w.hint})[/dim]" if w.hint else ""
        console.print(f"[yellow]warning[/yellow] {where}{w.message}{hint}")


def print_probe(infos: Sequence[TargetInfo], console: Console) -> None:
    """One line per target: what the probe found, or why the target is left out."""
    for info in sanitised(list(infos)):
        server = server_label(info.api, info.server, info.version)
        if info.usable and info.api == "ocr":
            threads = info.options.get("threads")
            console.print(
                f"[green]✓[/green] {info.name} {info.url} · {server} · "
                f"{threads} thread{'s' if threads != 1 else ''}",
                highlight=False,
            )
        elif info.usable and info.api == "openai":
            api = f"OpenAI API ({server})" if info.server else server or "OpenAI API"
            about = [api, f"response_format {info.response_format or '–'}"]
            if info.context_length:
                about.append(f"context {info.context_length}")
            if not info.images:
                about.append("text only: no image sent")
            console.print(f"[green]✓[/green] {info.name} {info.url} · {' · '.join(about)}")
        elif info.usable:
            digest = (info.model_digest or "")[:12]
            console.print(f"[green]✓[/green] {info.name} {info.url} · {server} · model {digest}")
        else:
            console.print(f"[red]✗[/red] {info.name}: {info.error}")
        for warning in info.warnings:
            console.print(f"  [yellow]warning[/yellow] {warning}")


def print_notices(notices: Sequence[Notice], console: Console) -> None:
    """What the checks before the first request found (vision/preflight.py)."""
    for notice in notices:
        hint = f" [dim]({printable(notice.hint)})[/dim]" if notice.hint else ""
        console.print(f"[yellow]warning[/yellow] {printable(notice.message)}{hint}")


def print_give_up(target: str, reason: str, console: Console) -> None:
    """Said once, when the runner stops sending to a target (vision/health.py)."""
    console.print(
        f"[yellow]warning[/yellow] {printable(target)}: {printable(reason)}: no more requests go "
        "to it; the rest of its requests are recorded as skipped [dim](--give-up-after)[/dim]",
        highlight=False,
    )


class ProgressReporter:
    """Runner observer that drives a rich progress bar."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0
        self.task = progress.add_task("starting", total=total)

    def started(self, step: Step) -> None:
        if self.done >= self.total:  # --until-ci added a round: the bar grows with it
            self.total += 1
            self.progress.update(self.task, total=self.total)
        when = f"round {step.repeat + 1}" if step.phase == "measured" else step.phase
        where = printable(f"{step.target} · {step.image.name}")
        self.progress.update(self.task, description=f"{when} {where}")

    def finished(self, sample: Sample) -> None:
        self.done += 1
        self.progress.advance(self.task)


def progress_bar(console: Console, enabled: bool = True) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not enabled,
    )
