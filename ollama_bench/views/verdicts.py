"""The one sentence a report opens with: what the run found, from its summary alone.

Plain text (names in it come from servers and run files): each format escapes it.
"""

from __future__ import annotations

from ollama_bench.cnn.parallel_summary import ParallelSummary
from ollama_bench.cnn.summary import InferSummary
from ollama_bench.cnn.train_summary import TrainSummary
from ollama_bench.load.records import ORDER
from ollama_bench.load.summary import (
    KEEP_UP_SHARE,
    Knee,
    LoadSummary,
    LoadTargetSummary,
)
from ollama_bench.views.tables import fmt_ci, fmt_rate, fmt_seconds, fmt_share
from ollama_bench.vision.compare import RunComparison
from ollama_bench.vision.summary import RunSummary


def ci_text(ci95: tuple[float, float] | None) -> str:
    return "no interval: too few repeats" if ci95 is None else f"95% CI {fmt_ci(ci95, '–')}"


def change(
    name: str,
    other: str,
    ratio: float,
    ci95: tuple[float, float] | None,
    verdict: str,
    more: str = "",
) -> str:
    """`gpu is 7.89× faster than cpu (95% CI …)`, or slower, or no clear difference; `more` is
    added inside the parentheses."""
    ci = ci_text(ci95) + more
    if verdict == "faster":
        return f"{name} is {ratio:.2f}× faster than {other} ({ci})"
    if verdict == "slower":
        return f"{name} is {1 / ratio:.2f}× slower than {other} ({ratio:.2f}× the speed, {ci})"
    return f"{name} and {other} show no clear difference ({ratio:.2f}×, {ci})"


def vision_verdict(summary: RunSummary) -> str:
    parts = []
    images = max((len(c.images) for c in summary.comparisons), default=0)
    for c in summary.comparisons:
        over = f", paired over {images} images" if images > 1 else ""
        parts.append(change(c.target, c.baseline, c.speedup, c.ci95, c.verdict, over))
        overall = c.quality.get("overall")
        if overall is not None:
            points = f"{overall.delta * 100:+.1f} points"
            parts.append(
                f"its accuracy is {overall.verdict} than {c.baseline}'s ({points})"
                if overall.verdict != "no clear difference"
                else f"no clear difference in accuracy ({points})"
            )
    timed = [t for t in summary.targets if t.latency_s.median is not None]
    if not summary.comparisons:
        parts += [
            f"{t.name} answers in {fmt_seconds(t.latency_s.median)} (median of {t.latency_s.n})"
            for t in timed
        ]
    if not timed:
        parts.append("no request completed")
    valid = [f"{t.name} {fmt_share(t.valid_rate)}" for t in timed if t.valid_rate is not None]
    if valid:
        parts.append("valid JSON " + ", ".join(valid))
    scored = [
        f"{t.name} {fmt_share(t.accuracy.get('overall'))}"
        for t in timed
        if t.accuracy.get("overall") is not None
    ]
    if scored:
        parts.append("accuracy " + ", ".join(scored))
    parts += [
        f"{t.name} failed {t.failed} of {t.samples} requests" for t in summary.targets if t.failed
    ]
    sentence = "; ".join(parts) + "."
    return ("Interrupted, partial results: " + sentence) if summary.interrupted else sentence


def _knee_phrase(target: LoadTargetSummary, knee: Knee) -> str:
    """`gpu saturates at c=4 (…)`, `cpu keeps up with up to 1 req/s (…)`, or why there is no
    knee, for one mode of one target's sweep."""
    name = target.name
    steps = sorted((s for s in target.steps if s.mode == knee.mode), key=lambda s: s.level)
    at = next((s for s in steps if s.step == knee.step), None)
    latency = f"p50 latency {fmt_seconds(at.latency_s.p50)}" if at is not None else ""
    if at is not None and knee.mode == "concurrency":
        tokens = at.output_tokens_per_s
        rates = f"{fmt_rate(knee.throughput_per_s)} req/s" + (
            f", {fmt_rate(tokens)} output tok/s" if tokens is not None else ""
        )
        return f"{name} saturates at {knee.label} ({rates}, {latency})"
    if at is not None:  # the reason names the next rate and how much of it was served
        return f"{name} keeps up with up to {knee.label} ({latency}; {knee.reason})"
    if knee.mode == "concurrency":
        timed = [s for s in steps if s.throughput_per_s is not None]
        if len(timed) < 2:
            return f"{name} ran one concurrency level only, so it shows no knee"
        last = timed[-1]
        return (
            f"{name} did not saturate up to {last.label} "
            f"({fmt_rate(last.throughput_per_s)} req/s there)"
        )
    if any(s.served_share is not None and s.served_share < KEEP_UP_SHARE for s in steps):
        first = steps[0]
        return (
            f"{name} fell behind even at {first.label} "
            f"(served at {fmt_share(first.served_share)} of the rate)"
        )
    return f"{name} kept up with every rate up to {steps[-1].label}"


def load_verdict(summary: LoadSummary) -> str:
    """Per target where it saturates and what it sustains there, its failures, and how the
    targets were loaded."""
    parts = []
    for t in summary.targets:
        if not t.usable:
            parts.append(f"{t.name} was not loaded (unusable)")
        elif not any(s.completed for s in t.steps):
            parts.append(f"{t.name}: no measured request completed")
        else:
            parts += [_knee_phrase(t, k) for k in t.knees]
        sent, failed = sum(s.sent for s in t.steps), sum(s.failed for s in t.steps)
        if failed:
            parts.append(f"{t.name} failed {failed} of {sent} requests")
    if len(summary.targets) > 1:
        order = summary.order
        parts.append(
            "the targets were loaded one after another, never together"
            if order == ORDER
            else f"the targets were loaded {order}"
        )
    sentence = "; ".join(parts or ["nothing was measured"]) + "."
    return ("Interrupted, partial results: " + sentence) if summary.interrupted else sentence


def _threads(count: int) -> str:
    return f"{count} thread{'' if count == 1 else 's'}"


def infer_verdict(summary: InferSummary) -> str:
    if not summary.results:
        return "Nothing was measured."
    best = max(summary.results, key=lambda r: r.images_per_s)
    sentence = (
        f"{summary.model}: at most {fmt_rate(best.images_per_s)} images/s, on {best.device} "
        f"with {_threads(best.threads)} at batch {best.batch_size}"
    )
    largest: dict[tuple[str, int], int] = {}
    for s in summary.speedups:
        key = (s.device, s.threads)
        largest[key] = max(largest.get(key, 0), s.batch_size)
    for s in summary.speedups:
        if s.batch_size == largest[(s.device, s.threads)]:
            name = f"{s.device} with {_threads(s.threads)}"
            baseline = f"the CPU with {_threads(summary.threads)}"
            sentence += "; " + change(name, baseline, s.speedup_vs_cpu, s.ci95, s.verdict)
            sentence += f" at batch {s.batch_size}"
    return sentence + ("." if not summary.interrupted else " (interrupted, partial results).")


def parallel_verdict(summary: ParallelSummary) -> str:
    others = [
        f"{a.arm} {a.vs_sequential:.2f}× ({a.verdict}, {ci_text(a.ci95)})"
        for a in summary.arms
        if a.arm != "sequential"
    ]
    head = f"{summary.model} at batch 1, {summary.images} images per pass, against sequential calls"
    return head + (": " + "; ".join(others) if others else ": only one arm measured") + "."


def train_verdict(summary: TrainSummary) -> str:
    reached = (
        f"reached {summary.target_accuracy:.0%} in {fmt_seconds(summary.time_to_target_s)} of "
        "training"
        if summary.time_to_target_s is not None
        else f"never reached {summary.target_accuracy:.0%}"
    )
    sentence = (
        f"{summary.model} on {summary.dataset}: {summary.test_accuracy:.1%} test accuracy after "
        f"{summary.epochs} epochs on {summary.workers} worker(s), {reached}"
    )
    if summary.scaling is not None:
        s = summary.scaling
        sentence += "; per epoch, " + change(
            f"{s.workers} workers", "1 worker", s.speedup, s.ci95, s.verdict
        )
    return sentence + "."


def compare_verdict(comparison: RunComparison) -> str:
    """Per target, the latency change from run A to run B, then what changed in quality."""
    parts = []
    for t in comparison.targets:
        m = t.metrics.get("latency")
        if m is None:
            parts.append(f"{t.target}: nothing measured in both runs")
            continue
        parts.append(change(f"on {t.target} run B", "run A", m.speedup, m.ci95, m.verdict))
        for label, (a, b) in (("valid JSON", t.valid_rate), ("accuracy", t.accuracy)):
            if a is not None and b is not None and fmt_share(a) != fmt_share(b):
                parts.append(f"{label} on {t.target} {fmt_share(a)} → {fmt_share(b)}")
    return ("; ".join(parts) or "no target was measured in both runs") + "."
