"""What the OCR baseline costs and gets right on the bundled cctv frames, per thread count.

Runs the OCR target exactly as `obench vision` does (OcrTarget: engine built at the probe, each
frame read in a worker thread, client clock around it), frames interleaved round by round, and
scores the replies as a run would. Prints the engine's load time, per-frame latency (median,
p90, min–max) and title and datetime accuracy for each `threads` value, and the process's peak
memory. On a machine shared with other work, compare thread counts in the same invocation.
Run: python benchmarks/ocr_baseline.py [--rounds N] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ollama_bench.models import RequestSettings
from ollama_bench.stats import percentile
from ollama_bench.targets import open_target
from ollama_bench.targets.spec import parse_target
from ollama_bench.vision.runner import judge
from ollama_bench.vision.scenarios import load_scenario


async def measure(threads: int, rounds: int) -> None:
    scenario = load_scenario("cctv")
    spec = parse_target(f"ocr=ocr,threads={threads}")
    async with open_target(spec, RequestSettings(model="-"), scenario.overlay_task()) as target:
        started = time.perf_counter()
        info = await target.probe()
        load_s = time.perf_counter() - started
        if not info.usable:
            raise SystemExit(f"ocr target unusable: {info.error}")
        await target.chat(scenario.prompt, scenario.images[0].data, None)  # warm-up
        latencies, title, stamp = [], [], []
        for _ in range(rounds):
            for image in scenario.images:
                exchange = await target.chat(scenario.prompt, image.data, None)
                latencies.append(exchange.timing.latency_ns / 1e6)
                _, score = judge(scenario, exchange, scenario.labels[image.name])
                assert score is not None
                title.append(score["title"])
                stamp.append(score["datetime"])
    print(
        f"threads={threads}  load {load_s:.2f} s  n={len(latencies)}  "
        f"median {statistics.median(latencies):.0f} ms  p90 {percentile(latencies, 90):.0f} ms  "
        f"min–max {min(latencies):.0f}–{max(latencies):.0f} ms  "
        f"title {statistics.fmean(title):.0%}  datetime {statistics.fmean(stamp):.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    args = parser.parse_args()
    for threads in (int(t) for t in args.threads.split(",")):
        asyncio.run(measure(threads, args.rounds))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
