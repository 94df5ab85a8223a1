"""obench load's own ceiling: requests/s it sustains, and the latency it adds, against a server
that costs nothing.

The server runs in its own process and answers every /api/chat at once with a pre-built
Ollama stream (eight content chunks and the final chunk, as Ollama's NDJSON), so it is far
cheaper per request than the client: what is measured is obench. Two clients, same requests
(the cctv prompt, a 36 kB image, the schema), interleaved arm by arm:

  bare    raw asyncio sockets: send the pre-encoded request, read to the stream's last chunk
  obench  the load engine's closed loop through OllamaTarget: timing, chunk clock, judging,
          LoadSample, each line written and flushed to a run file

At concurrency 64 the requests/s of `obench` is the client's ceiling on this machine: a server
faster than that is measured as this. Added latency = median(obench) − median(bare), at
concurrency 1 and 64 (at 64 most of it is waiting for the one event loop's turn).
Run: python benchmarks/load_overhead.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ollama_bench.load.engine import TargetPool, run_step  # noqa: E402
from ollama_bench.load.records import LoadHeader, LoadSample, StepSpec  # noqa: E402
from ollama_bench.models import RequestSettings  # noqa: E402
from ollama_bench.store import RunWriter  # noqa: E402
from ollama_bench.targets.ollama import OllamaTarget  # noqa: E402
from ollama_bench.targets.spec import parse_target  # noqa: E402
from ollama_bench.vision.scenarios import load_scenario  # noqa: E402

REPLY = ["{", '"title": ', '"CAM', " 27", '", ', '"traffic_level": ', "55", "}"]
MODEL = "llama3.2-vision"


def _stream() -> bytes:
    """One HTTP/1.1 response: Ollama's NDJSON chat stream, one line per chunk."""
    lines = [
        {
            "model": MODEL,
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": t},
            "done": False,
        }
        for t in REPLY
    ]
    lines.append(
        {
            "model": MODEL,
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1000,
            "load_duration": 10,
            "prompt_eval_count": 20,
            "prompt_eval_duration": 100,
            "eval_count": len(REPLY),
            "eval_duration": 800,
        }
    )
    body = b""
    for line in lines:
        data = json.dumps(line, separators=(",", ":")).encode() + b"\n"
        body += b"%x\r\n%s\r\n" % (len(data), data)
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    return head + body + b"0\r\n\r\n"


async def _serve(ready: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    response = _stream()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                writer.write(response)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    ready.put(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def serve(ready: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    asyncio.run(_serve(ready))


async def bare_arm(port: int, body: bytes, concurrency: int, requests: int) -> list[float]:
    """Latencies (s) of a raw-socket client, `concurrency` connections in a closed loop."""
    request = (
        b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    latencies: list[float] = []
    left = requests

    async def worker() -> None:
        nonlocal left
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while left > 0:
            left -= 1
            started = time.perf_counter()
            writer.write(request)
            await reader.readuntil(b"0\r\n\r\n")
            latencies.append(time.perf_counter() - started)
        writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def obench_arm(
    url: str, concurrency: int, requests: int, folder: Path
) -> tuple[list[float], float]:
    """Latencies (s) through the load engine, and its requests/s (completed / step time)."""
    scenario = load_scenario("cctv")
    scenario.images[:] = scenario.images[:1]
    settings = RequestSettings(model=MODEL)
    step = StepSpec(
        index=0,
        mode="concurrency",
        concurrency=concurrency,
        max_requests=requests,
        max_duration_s=600,
    )
    header = LoadHeader(
        tool_version="bench",
        run_id="bench",
        started_at=datetime.now(UTC),
        scenario=scenario.name,
        prompt_sha256=scenario.prompt_sha256,
        schema_sent=scenario.schema,
        settings=settings,
        warmup=0,
        steps=[step],
        targets=[],
        images=[scenario.images[0].info()],
        host={},
    )
    writer = RunWriter(folder / f"c{concurrency}-{time.monotonic_ns()}.jsonl", header)
    samples: list[LoadSample] = []

    def sink(sample: LoadSample) -> None:
        assert sample.ok, sample.error
        writer.append(sample)
        samples.append(sample)

    seq = iter(range(10**9))
    async with OllamaTarget(parse_target(f"bench={url}"), settings) as target:
        pool = TargetPool(target)
        result = await run_step(
            "bench",
            pool,
            scenario,
            scenario.images,
            step,
            structured=True,
            sink=sink,
            next_seq=lambda: next(seq),
        )
        await pool.close()
    writer.close()
    return [s.timing.latency_ns / 1e9 for s in samples], len(samples) / result.elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=640, help="per arm and round at c=64")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    server = context.Process(target=serve, args=(ready,), daemon=True)
    server.start()
    port = ready.get(timeout=30)
    url = f"http://127.0.0.1:{port}"
    scenario = load_scenario("cctv")
    image = scenario.images[0]
    target = OllamaTarget(parse_target(f"x={url}"), RequestSettings(model=MODEL))
    body = json.dumps(
        {
            "model": MODEL,
            "messages": [
                {
                    "role": "user",
                    "content": scenario.prompt,
                    "images": [base64.b64encode(image.data).decode()],
                }
            ],
            "stream": True,
            "format": scenario.schema,
            "options": target.options,
            "keep_alive": "30m",
        }
    ).encode()
    results: dict[tuple[str, int], list[float]] = {}
    rates: dict[tuple[str, int], list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for concurrency, requests in ((1, max(args.requests // 4, 50)), (64, args.requests)):
                asyncio.run(obench_arm(url, concurrency, 64, Path(folder)))  # warm up both
                asyncio.run(bare_arm(port, body, concurrency, 64))
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    bare = asyncio.run(bare_arm(port, body, concurrency, requests))
                    rates.setdefault(("bare", concurrency), []).append(
                        len(bare) / (time.perf_counter() - started)
                    )
                    ours, rate = asyncio.run(obench_arm(url, concurrency, requests, Path(folder)))
                    rates.setdefault(("obench", concurrency), []).append(rate)
                    results.setdefault(("bare", concurrency), []).extend(bare)
                    results.setdefault(("obench", concurrency), []).extend(ours)
    finally:
        server.terminate()
        server.join()
    print(
        f"zero-delay server in its own process; image {len(image.data)} bytes, "
        f"{len(REPLY)} content chunks; {args.rounds} rounds per arm"
    )
    print(f"{'arm':8} {'conc':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for (arm, concurrency), values in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * (len(ordered) - 1)))]
        rate = statistics.median(rates[(arm, concurrency)])
        print(
            f"{arm:8} {concurrency:5d} {rate:8.0f} "
            f"{statistics.median(values) * 1e3:8.2f} {p99 * 1e3:8.2f}"
        )
    ceiling = statistics.median(rates[("obench", 64)])
    print(f"client ceiling at concurrency 64: {ceiling:.0f} requests/s (obench load, median round)")
    for concurrency in (1, 64):
        added = statistics.median(results[("obench", concurrency)]) - statistics.median(
            results[("bare", concurrency)]
        )
        print(f"latency obench adds at concurrency {concurrency}: {added * 1e3:.2f} ms (median)")


if __name__ == "__main__":
    main()
