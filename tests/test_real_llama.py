"""Real inference: obench against a real llama.cpp `llama-server` serving SmolLM2-135M.

The server is built once from pinned sources and cached (tests/llama_server.py). What a real
server proves, and a stand-in cannot: every request succeeds, the replies follow the schema sent,
obench's token counts and durations are llama.cpp's own (read independently from the server's
log), they fit inside the client's latency, and obench's decode rate agrees with llama.cpp's.
The model's accuracy is not asserted: SmolLM2 is text only and is sent no image.

In CI (`CI` set), or with OBENCH_REAL_LLAMA=1, the server is built when missing (minutes, once)
and a failure to build or start fails these tests with the reason. Elsewhere they run when the
binary is already cached (or OBENCH_LLAMA_SERVER names one) and skip otherwise, saying how.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_openai import FakeOpenAI
from llama_server import LlamaServer, Unavailable, binary_path, ensure_binary, ensure_model

from ollama_bench.vision.scenarios import load_scenario

pytestmark = [pytest.mark.real, pytest.mark.timeout(3600)]  # a cold build takes minutes

MUST_RUN = bool(os.environ.get("CI")) or os.environ.get("OBENCH_REAL_LLAMA") == "1"
HOW = (
    "llama-server is not built yet: OBENCH_REAL_LLAMA=1 .venv/bin/python -m pytest "
    "tests/test_real_llama.py builds it once (5-15 min; cmake, make and a C++ compiler), "
    "or set OBENCH_LLAMA_SERVER=/path/to/llama-server"
)
# llama-server's own account of each request, as it logs it (print_timings)
_PROMPT = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens .*?([\d.]+) tokens per")
_EVAL = re.compile(r"\|\s+eval time =\s*([\d.]+) ms /\s*(\d+) tokens .*?([\d.]+) tokens per")


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    explicit = os.environ.get("OBENCH_LLAMA_SERVER")
    try:
        if explicit:
            binary = Path(explicit)
        elif MUST_RUN or binary_path().is_file():
            binary = ensure_binary()
        else:
            pytest.skip(HOW)
        log = tmp_path_factory.mktemp("llama") / "llama-server.log"
        server = LlamaServer(binary, ensure_model(), log).start()
    except Unavailable as exc:
        if MUST_RUN:
            pytest.fail(f"real llama-server unavailable: {exc}", pytrace=False)
        pytest.skip(f"{exc} ({HOW})")
    try:
        yield server
    finally:
        server.stop()


def server_account(text: str) -> list[dict[str, float]]:
    """One entry per request llama-server finished: its prompt and eval lines, paired."""
    prompts, evals = _PROMPT.findall(text), _EVAL.findall(text)
    assert len(prompts) == len(evals)
    return [
        {
            "prompt_ms": float(p[0]),
            "prompt_n": int(p[1]),
            "prompt_per_s": float(p[2]),
            "eval_ms": float(e[0]),
            "eval_n": int(e[1]),
            "eval_per_s": float(e[2]),
        }
        for p, e in zip(prompts, evals, strict=True)
    ]


def test_obench_measures_a_real_llama_server(
    llama: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.jsonl"
    logged_before = len(llama.log.read_text(errors="replace"))
    argv = [sys.executable, "-m", "ollama_bench", "vision", "--scenario", "cctv"]
    argv += ["--target", f"real={llama.url},api=openai,images=false", "--runs", "2"]
    argv += ["--model", "smollm2", "--json", "-q", "--out", str(out)]
    env = {**os.environ, "OBENCH_MONITOR": "0"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, env=env, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    header, samples = records[0], [r for r in records if r["kind"] == "sample"]
    logged = server_account(llama.log.read_text(errors="replace")[logged_before:])

    # what was sent: the scenario's schema, as json_schema, to a llama.cpp server, no image
    (info,) = header["targets"]
    assert header["schema_sent"] == load_scenario("cctv").schema
    assert (info["server"], info["response_format"], info["images"]) == (
        "llama.cpp",
        "json_schema",
        False,
    )
    # every request succeeded and its reply follows that schema
    assert len(samples) == 1 + 6 * 2
    assert all(s["ok"] and s["validation"]["valid"] for s in samples), samples
    (target,) = summary["targets"]
    assert target["samples"] == 12 and target["failed"] == 0 and target["valid_rate"] == 1.0
    assert set(target["accuracy"].values()) == {None}  # text only: accuracy is not compared
    assert target["unreported"] == ["gap_s", "cold_load_s"]

    # llama-server logged one more request than obench stored: the probe's one-token check
    assert len(logged) == 1 + len(samples)
    assert logged[0]["eval_n"] == 1
    for sample, own in zip(samples, logged[1:], strict=True):
        timing, server = sample["timing"], sample["timing"]["server"]
        assert server["prompt_eval_count"] == own["prompt_n"]
        assert server["eval_count"] == own["eval_n"]
        assert server["prompt_eval_duration_ns"] / 1e6 == pytest.approx(own["prompt_ms"], abs=0.01)
        assert server["eval_duration_ns"] / 1e6 == pytest.approx(own["eval_ms"], abs=0.01)
        assert server["prompt_eval_duration_ns"] + server["eval_duration_ns"] < timing["latency_ns"]
        assert server["prompt_eval_duration_ns"] < timing["ttft_ns"] < timing["latency_ns"]
        assert server["total_duration_ns"] is None and server["load_duration_ns"] is None
        # llama.cpp divides by n − 1 decode steps (its first token comes from the prompt's
        # logits); obench divides by n, as for Ollama: exactly n/(n − 1) apart
        n, obench_rate, own_rate = own["eval_n"], timing["decode_tokens_per_s"], own["eval_per_s"]
        assert obench_rate * (n - 1) / n == pytest.approx(own_rate, rel=0.005, abs=0.01)
        assert obench_rate == pytest.approx(own_rate, rel=0.05)
    measured = [o for o, s in zip(logged[1:], samples, strict=True) if s["phase"] == "measured"]

    def median(key: str) -> float:
        return statistics.median(o[key] for o in measured)

    with capsys.disabled():  # the figures belong in the test log, CI's too
        print(
            "\nreal llama-server (SmolLM2-135M, -t 1), medians of 12 measured requests:\n"
            f"  latency          obench {target['latency_s']['median'] * 1e3:8.0f} ms"
            f" | llama.cpp prompt+eval {median('prompt_ms') + median('eval_ms'):8.0f} ms\n"
            f"  TTFT             obench {target['ttft_s']['median'] * 1e3:8.0f} ms"
            f" | llama.cpp prompt eval {median('prompt_ms'):8.0f} ms\n"
            f"  prompt tokens/s  obench {target['prompt_tokens_per_s']['median']:8.2f}"
            f"    | llama.cpp {median('prompt_per_s'):8.2f}\n"
            f"  decode tokens/s  obench {target['decode_tokens_per_s']['median']:8.2f}"
            f"    | llama.cpp {median('eval_per_s'):8.2f} (n = {measured[0]['eval_n']} tokens)"
        )

    shown = subprocess.run(
        [sys.executable, "-m", "ollama_bench", "report", str(out)],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "160"},
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "not reported by this server" in shown.stdout and "text only" in shown.stdout


def _events(response: httpx.Response) -> list[Any]:
    data = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    return [d if d == "[DONE]" else json.loads(d) for d in data]


def _shape(value: Any) -> Any:
    """Keys and value types, recursively: what a client depends on, without the values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(item) for item in value[:1]]
    return type(value).__name__ if not isinstance(value, float | int) else "number"


def test_the_stand_in_streams_what_llama_server_streams(
    llama: LlamaServer, fake_openai: Callable[..., FakeOpenAI]
) -> None:
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Name a colour as JSON."}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 12,
        "temperature": 0,
        "cache_prompt": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": True},
        },
    }
    fake = fake_openai(reply='{"colour": "blue"}')
    real = httpx.post(f"{llama.url}/v1/chat/completions", json=body, timeout=120)
    stand_in = httpx.post(f"{fake.url}/v1/chat/completions", json=body, timeout=10)
    real_events, fake_events = _events(real), _events(stand_in)
    assert real.headers["content-type"] == stand_in.headers["content-type"]
    assert real_events[-1] == fake_events[-1] == "[DONE]"
    # first (role) chunk, a content chunk, the finish chunk, the usage chunk: same shapes
    for index in (0, 1, -3, -2):
        assert _shape(fake_events[index]) == _shape(real_events[index]), index
    assert real_events[-2]["choices"] == [] == fake_events[-2]["choices"]

    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    with_image = {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}]
    }
    fake.config.vision = False
    refused = [
        httpx.post(f"{url}/v1/chat/completions", json=with_image, timeout=30)
        for url in (llama.url, fake.url)
    ]
    assert refused[0].status_code == refused[1].status_code == 500
    assert refused[0].json() == refused[1].json()  # llama-server without --mmproj
    missing = [httpx.get(f"{url}/nowhere", timeout=10) for url in (llama.url, fake.url)]
    assert missing[0].status_code == missing[1].status_code == 404
    assert _shape(missing[0].json()) == _shape(missing[1].json())
    props = [httpx.get(f"{url}/props", timeout=10).json() for url in (llama.url, fake.url)]
    for key in ("build_info", "modalities", "default_generation_settings"):
        assert key in props[0] and key in props[1]
    assert props[0]["build_info"] == props[1]["build_info"]


@pytest.mark.parametrize(
    "content", [["a string, not a part"], [{"type": "input_text", "text": "hi"}], 5]
)
def test_the_stand_in_refuses_malformed_content_as_llama_server_does(
    llama: LlamaServer, fake_openai: Callable[..., FakeOpenAI], content: Any
) -> None:
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 2}
    fake = fake_openai()
    real, stand_in = (
        httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)
        for url in (llama.url, fake.url)
    )
    assert real.status_code == stand_in.status_code == 400
    assert real.json() == stand_in.json()
