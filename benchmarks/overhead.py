"""obench's own cost per request: its request path against a bare httpx stream, same test server.

The test server answers at zero injected delay with the same short streamed reply, so what is
left is HTTP, JSON and the client code. Three arms, interleaved round by round so that drift
falls on all of them:

  httpx   a bare streaming POST /api/chat with a pre-encoded body, lines json-decoded
  target  OllamaTarget.chat: the official client, timing, error capture (what obench times)
  full    the runner's whole per-request path: chat + JSON extraction, validation, scoring,
          Sample record, line written and flushed to a run file

Overhead = median(arm) − median(httpx). Goal: under 1 ms for `target`.
Run: python benchmarks/overhead.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_ollama import FakeConfig, FakeOllama  # noqa: E402

from ollama_bench.models import RequestSettings, RunHeader  # noqa: E402
from ollama_bench.store import RunWriter  # noqa: E402
from ollama_bench.targets.ollama import OllamaTarget  # noqa: E402
from ollama_bench.targets.spec import parse_target  # noqa: E402
from ollama_bench.vision.runner import Step, execute  # noqa: E402
from ollama_bench.vision.scenarios import load_scenario  # noqa: E402

REPLY = json.dumps(
    {
        "title": "CAM 27-04 M-40 KM 9.8 MADRID",
        "datetime": "2024-11-22T21:47:19",
        "traffic_level": 55,
    }
)


class _Quiet:
    def started(self, step: Step) -> None: ...
    def finished(self, sample: object) -> None:
        self.writer.append(sample)  # type: ignore[arg-type]

    def __init__(self, writer: RunWriter) -> None:
        self.writer = writer


async def measure(requests: int) -> dict[str, list[float]]:
    scenario = load_scenario("cctv")
    image = scenario.images[0]
    settings = RequestSettings(model="llama3.2-vision")
    server = FakeOllama(FakeConfig(reply=REPLY)).start()
    spec = parse_target(f"bench={server.url}")
    times: dict[str, list[float]] = {"httpx": [], "target": [], "full": []}
    try:
        async with (
            OllamaTarget(spec, settings) as target,
            httpx.AsyncClient(base_url=server.url, timeout=30) as bare,
        ):
            body = json.dumps(
                {
                    "model": settings.model,
                    "stream": True,
                    "format": scenario.schema,
                    "options": target.options,
                    "keep_alive": settings.keep_alive,
                    "messages": [
                        {
                            "role": "user",
                            "content": scenario.prompt,
                            "images": [base64.b64encode(image.data).decode()],
                        }
                    ],
                }
            )

            async def bare_request() -> None:
                async with bare.stream("POST", "/api/chat", content=body) as response:
                    async for line in response.aiter_lines():
                        json.loads(line)

            with tempfile.TemporaryDirectory() as folder:
                header = RunHeader(
                    tool_version="bench",
                    run_id="bench",
                    started_at=datetime.now(UTC),
                    scenario=scenario.name,
                    prompt_sha256=scenario.prompt_sha256,
                    schema_sent=scenario.schema,
                    settings=settings,
                    warmup=0,
                    runs=requests,
                    targets=[],
                    images=[image.info()],
                    host={},
                )
                writer = RunWriter(Path(folder) / "overhead.jsonl", header)
                observer = _Quiet(writer)
                step = [Step("measured", 0, image, "bench")]
                for round_ in range(requests + 20):  # the first 20 rounds warm everything up
                    started = time.perf_counter_ns()
                    await bare_request()
                    t_httpx = time.perf_counter_ns() - started
                    started = time.perf_counter_ns()
                    exchange = await target.chat(scenario.prompt, image.data, scenario.schema)
                    t_target = time.perf_counter_ns() - started
                    assert exchange.error is None and exchange.reply == REPLY, exchange.error
                    started = time.perf_counter_ns()
                    await execute(
                        step, {"bench": target}, scenario, structured=True, observer=observer
                    )
                    t_full = time.perf_counter_ns() - started
                    if round_ >= 20:
                        times["httpx"].append(t_httpx / 1e6)
                        times["target"].append(t_target / 1e6)
                        times["full"].append(t_full / 1e6)
                writer.close()
    finally:
        server.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    times = asyncio.run(measure(args.requests))
    base = statistics.median(times["httpx"])
    print(
        f"{args.requests} requests per arm, "
        f"image {len(load_scenario('cctv').images[0].data)} bytes, reply {len(REPLY)} chars"
    )
    print(f"{'arm':8} {'median ms':>10} {'p90 ms':>8} {'overhead ms':>12}")
    for arm, values in times.items():
        ordered = sorted(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        median = statistics.median(values)
        print(f"{arm:8} {median:10.3f} {p90:8.3f} {median - base:12.3f}")
    target_overhead = statistics.median(times["target"]) - base
    verdict = "meets" if target_overhead < 1.0 else "misses"
    print(f"obench request overhead {target_overhead:.3f} ms median: {verdict} the 1 ms goal")


if __name__ == "__main__":
    main()
