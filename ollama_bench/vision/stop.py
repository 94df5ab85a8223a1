"""--until-ci: once a round is complete, is every latency speed-up precise enough to stop?

Precision is the 95% CI's half-width relative to the speed-up, (high − low) / 2 / speed-up. Only
the latency speed-ups must reach it: latency is the headline, the others follow from the same
requests, and a rate the server may not report (prompt tokens/s of a cached prompt) must not keep
a run going. Rounds are whole (every image on every target) so that the design stays paired and
balanced; only the first `rounds` rounds are looked at, so a resumed run stops where an
uninterrupted one would have.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from ollama_bench.models import Sample
from ollama_bench.vision.summary import paired_speedups


def widest_half_width(names: Sequence[str], samples: Sequence[Sample], rounds: int) -> float | None:
    """The largest relative half-width among the latency speed-ups over the first `rounds`
    rounds; inf while one has no interval; None when there is no speed-up to measure."""
    counted = [s for s in samples if s.phase == "measured" and s.repeat < rounds]
    results = paired_speedups(names, counted, "latency")
    if not results:
        return None
    widths = [r.half_width if r is not None else None for _, r in results.values()]
    return max(math.inf if w is None else w for w in widths)


def precision_rule(
    names: Callable[[], Sequence[str]], samples: Sequence[Sample], until_ci_pct: float
) -> Callable[[int], bool]:
    """The runner's stop question; `samples` is the live list the run appends to, `names` says
    which targets still count (a target given up on does not). With no speed-up to measure (one
    target left) the run stops at --runs."""

    def stop(rounds: int) -> bool:
        widest = widest_half_width(names(), samples, rounds)
        return widest is None or widest <= until_ci_pct / 100

    return stop
