"""Does a completed run stand as a result? Every target needs a successful measured request, and
with `--max-failure-rate` none may fail more often than that. Pure: the CLI turns an answer into
exit code 4, after the summary is shown, so CI can tell a broken run from a good one."""

from __future__ import annotations

from ollama_bench.vision.summary import RunSummary, TargetSummary


def _kinds(target: TargetSummary) -> str:
    return ", ".join(f"{kind} ×{count}" for kind, count in sorted(target.errors.items()))


def run_problem(summary: RunSummary, max_failure_rate_pct: float | None = None) -> str | None:
    """Why this run fails the gate, in one line naming each target at fault; None when it passes.

    >>> from ollama_bench.vision.summary import Stat
    >>> empty = Stat.of([])
    >>> t = TargetSummary(name="cpu", url="u", samples=4, failed=4, errors={"http_500": 4},
    ...     latency_s=empty, ttft_s=empty, decode_tokens_per_s=empty,
    ...     prompt_tokens_per_s=empty, gap_s=empty)
    >>> run_problem(RunSummary(run_file="f", scenario="s", model="m", structured=True,
    ...     targets=[t], comparisons=[], warnings=[]))
    'cpu had no successful measured request (4 of 4 failed: http_500 ×4)'
    """
    problems = []
    for target in summary.targets:
        name, sent, failed = target.name, target.samples, target.failed
        if not target.usable:
            problems.append(f"{name} had no successful measured request (unusable at the start)")
        elif sent == 0 or failed == sent:
            problems.append(
                f"{name} had no successful measured request "
                f"({failed} of {sent} failed: {_kinds(target) or 'none sent'})"
            )
        elif max_failure_rate_pct is not None and failed / sent * 100 > max_failure_rate_pct:
            problems.append(
                f"{name} failed {failed} of {sent} measured requests "
                f"({failed / sent * 100:.0f}%), more than --max-failure-rate "
                f"{max_failure_rate_pct:g}% ({_kinds(target)})"
            )
    return "; ".join(problems) or None
