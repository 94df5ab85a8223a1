"""How long judging a reply takes (extraction, validation, scoring), on hostile replies and sizes.

A reply is untrusted: a server may send megabytes of brackets. Judging must stay linear in the
reply's length and never raise. This prints the time of `judge()` per reply for hostile shapes at
several sizes, and the time per MB: linear judging shows a flat time per MB across sizes.
Goal: under 1 s for a 1 MB reply of any shape (an uncapped search took 280 s).
Run: python benchmarks/judging.py [--sizes 100000,300000,1000000,10000000]
"""

from __future__ import annotations

import argparse
import json
import time

from ollama_bench.models import Timing
from ollama_bench.targets.base import Exchange
from ollama_bench.vision.runner import judge
from ollama_bench.vision.scenarios import load_scenario

LABEL = {"title": "CAM 01", "datetime": "2024-11-20T15:45:12", "traffic_level": 20}
GOOD = json.dumps(LABEL)


def shapes(size: int) -> dict[str, str]:
    """Replies of about `size` characters."""
    return {
        "{ × n": "{" * size,
        '{" × n/2': '{"' * (size // 2),
        "[ × n": "[" * size,
        "nested [ then ]": "[" * (size // 2) + "]" * (size // 2),
        "```json fences": '```json\n{"' * (size // 10),
        "prose, JSON last": "word {x} " * (size // 9) + GOOD,
        "a string field": json.dumps({**LABEL, "title": "x" * size}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000,10000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    scenario = load_scenario("cctv")
    print(f"{'reply':<18}{'chars':>10}{'judge ms':>11}{'ms per MB':>11}  verdict")
    worst_per_mb = 0.0
    for size in sizes:
        for name, reply in shapes(size).items():
            exchange = Exchange(reply=reply, timing=Timing(latency_ns=1), error=None)
            started = time.perf_counter()
            validation, _ = judge(scenario, exchange, LABEL)
            elapsed_ms = (time.perf_counter() - started) * 1000
            per_mb = elapsed_ms / (len(reply) / 1e6)
            worst_per_mb = max(worst_per_mb, per_mb) if len(reply) >= 1e6 else worst_per_mb
            verdict = "valid" if validation and validation.valid else "invalid"
            print(f"{name:<18}{len(reply):>10}{elapsed_ms:>11.1f}{per_mb:>11.1f}  {verdict}")
    if worst_per_mb:
        status = "meets" if worst_per_mb < 1000 else "misses"
        print(f"worst time per MB at ≥ 1 MB: {worst_per_mb:.0f} ms: {status} the 1 s per MB goal")


if __name__ == "__main__":
    main()
