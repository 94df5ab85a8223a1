"""Run files for the report tests, made the real way: obench vision and obench load against test
servers.

`hostile_vision_run` is what a report must survive and show: two targets of different speeds
(each image taking one to three times as long as the first), one whose replies to one image are
not JSON but HTML meant to run in a browser, one that fails some requests with a hostile error
text and a reset connection, a version string and an image file name holding markup. Every
payload sets `window.__pwned` when it runs; a safe report shows them as text.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from fake_ollama import FakeConfig, FakeOllama, bundled_factors, bundled_reply
from pydantic import BaseModel
from typer.testing import CliRunner

from ollama_bench.cli import app
from ollama_bench.cnn.records import (
    DeviceInfo,
    EpochSample,
    Footer,
    InferHeader,
    InferSample,
    MatmulRate,
    ModelInfo,
    ParallelHeader,
    ParallelSample,
    TrainHeader,
)
from ollama_bench.store import RunWriter

BUNDLED = Path(__file__).resolve().parent.parent / "images" / "cctv"
SCRIPT = "<script>window.__pwned = 1</script>"
IMG_ONERROR = '"><img src=x onerror="window.__pwned = 2">'
HOSTILE_IMAGE = 'x"><img src=x onerror=window.__pwned=4>.jpg'
HOSTILE_REPLY = f"Sure! {SCRIPT}{IMG_ONERROR} [click](javascript:alert(1)) | =cmd|' /C calc'!A0"
HOSTILE_ERROR = f"runner crashed {SCRIPT} $\\frac{{1}}{{0}}$ \x1b[2J"
HOSTILE_VERSION = f"0.24.0{SCRIPT}"

Make = Callable[..., FakeOllama]
T = TypeVar("T")


def hostile_images(folder: Path) -> Path:
    """The bundled cctv frames, one of them under a name that is an HTML attack."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = json.loads((BUNDLED / "labels.json").read_text())
    names = sorted(labels)[:4]
    kept = {}
    for name in names:
        target = HOSTILE_IMAGE if name == names[-1] else name
        shutil.copy(BUNDLED / name, folder / target)
        kept[target] = labels[name]
    (folder / "labels.json").write_text(json.dumps(kept))
    return folder


def _reply_with_invalid(invalid_for: bytes) -> Callable[[dict[str, Any]], str]:
    """The bundled answers, except HTML instead of JSON for one image."""
    answer = bundled_reply()

    def reply(body: dict[str, Any]) -> str:
        sent = body["messages"][-1].get("images") or []
        if sent and base64.b64decode(sent[0]) == invalid_for:
            return HOSTILE_REPLY
        return answer(body)

    return reply


def hostile_vision_run(make: Make, folder: Path, runs: int = 3) -> Path:
    """Run obench vision against a fast and a 6× slower test server; return the run file."""
    images = hostile_images(folder / "images")
    factors = bundled_factors(images.parent, spread=3.0)
    second = sorted(p for p in images.iterdir() if p.suffix == ".jpg")[1].read_bytes()
    # gpu: 0.03 s + about 26 tokens × 0.4 ms, 41–123 ms a request with the image factors; long
    # enough against the client's own cost per request (20 ms and more on a busy machine) that
    # the speed-up stays well above 4: (6 × 41 + 20) / (41 + 20) = 4.4 on the quickest image
    delays = {"prompt_eval_s": 0.03, "token_delay_s": 0.0004, "load_s": 0.05}
    gpu = make(
        reply=_reply_with_invalid(second), image_factors=factors, jitter=0.05, seed=1, **delays
    )
    cpu = make(
        version=HOSTILE_VERSION,
        reply=bundled_reply(),
        image_factors=factors,
        jitter=0.05,
        seed=2,
        fault_message=HOSTILE_ERROR,
        vram_fraction=0.0,
        **{k: v * 6 for k, v in delays.items()},
    )
    # the warm-up is served; two measured requests get HTTP 500 with a hostile text, one a reset
    cpu.inject_sequence([None, None, "500", None, None, None, "reset", None, "500"])
    out = folder / "vision.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "vision",
            *("--target", f"gpu={gpu.url}", "--target", f"cpu={cpu.url}"),
            *("--images", str(images), "--runs", str(runs), "--warmup", "1"),
            *("--out", str(out), "--quiet", "--json"),
        ],
        catch_exceptions=False,
    )
    if result.exit_code != 0 or not out.exists():
        raise AssertionError(f"obench vision failed: {result.output}")
    return out


def vision_run(folder: Path) -> Path:
    """hostile_vision_run with its own test servers, stopped when it is done."""
    return with_servers(hostile_vision_run, folder)


def hostile_load_run(make: Make, folder: Path) -> Path:
    """Run obench load against a 1-slot and a 4-slot test server; return the run file.

    Closed loop at 1, 2 and 4 requests in flight and open loop at 10 and 50 requests/s, 8
    requests a step, with a latency objective; a request takes about 60 ms of slot time, so
    the whole run takes a few seconds. The 1-slot server has a version holding a script, and
    fails two measured requests with a hostile error text and one with a reset; the images
    include one whose file name is an HTML attack. What obench load printed with --json is kept
    beside the run file as `<name>.printed.json`.
    """
    images = hostile_images(folder / "load-images")
    delays = {"prompt_eval_s": 0.03, "token_delay_s": 0.001, "jitter": 0.05}
    hostile = {"version": HOSTILE_VERSION, "fault_message": HOSTILE_ERROR}
    one = make(reply=bundled_reply(), seed=3, **hostile, **delays)
    four = make(reply=bundled_reply(), num_parallel=4, seed=4, **delays)
    one.inject_sequence([None, None, "500", None, None, "reset", None, None, None, "500"])
    out = folder / "load.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "load",
            *("--target", f"one={one.url}", "--target", f"four={four.url}"),
            *("--images", str(images), "--concurrency", "1,2,4", "--rate", "10,50"),
            *("--requests", "8", "--slo-latency", "0.15", "--warmup", "1", "--no-monitor"),
            *("--out", str(out), "--quiet", "--json"),
        ],
        catch_exceptions=False,
    )
    if result.exit_code != 0 or not out.exists():
        raise AssertionError(f"obench load failed: {result.output}")
    out.with_suffix(".printed.json").write_text(result.stdout)
    return out


def with_servers(run: Callable[[Make, Path], T], folder: Path) -> T:
    """`run` with its own test servers, stopped when it is done."""
    servers: list[FakeOllama] = []

    def make(**config: Any) -> FakeOllama:
        server = FakeOllama(FakeConfig(**config)).start()
        servers.append(server)
        return server

    try:
        return run(make, folder)
    finally:
        for server in servers:
            server.stop()


def load_run(folder: Path) -> Path:
    """hostile_load_run with its own test servers."""
    return with_servers(hostile_load_run, folder)


# -- CNN run files -------------------------------------------------------------------------------
# Running the CNN benchmarks takes 7–18 s each on two cores; their own tests do that and check
# that obench report reads what they wrote. The report tests use files of the same records,
# written by the same RunWriter, with latencies drawn around a known model of each device.

HOSTILE_DEVICE = "cuda:0<script>window.__pwned = 5</script>"


def _host() -> dict[str, Any]:
    return {"hostname": "bench", "platform": "Linux", "machine": "x86_64", "cpu_count": 2}


def _write(path: Path, header: BaseModel, samples: list[BaseModel]) -> Path:
    writer = RunWriter(path, header)
    for sample in samples:
        writer.append(sample)
    notes = {"weights_identical": True} if isinstance(header, TrainHeader) else {}
    writer.close(
        Footer(
            finished_at=datetime.now(UTC),
            samples=len(samples),
            interrupted=False,
            elapsed_s=1.0,
            notes=notes,
        )
    )
    return path


def cnn_infer_run(path: Path, device: str = HOSTILE_DEVICE) -> Path:
    """CPU at 1 and 2 threads and one GPU, batch sizes 1–16: per batch, 4 ms × batch^0.9 on one
    thread, 60% of that on two, 0.5 ms + 0.05 ms × batch on the GPU, each ±5% (seeded)."""
    rng = random.Random(7)
    model = ModelInfo(
        name="cnn8m",
        params=8_765_066,
        flops_per_image=332_933_120,
        flops_counted="convolutions and linear layers",
        image_shape=(3, 64, 64),
    )
    batches = [1, 2, 4, 8, 16]
    settings = [("cpu", 1, 4e-3, 0.0), ("cpu", 2, 2.4e-3, 0.0), (device, 2, 5e-5, 5e-4)]
    header = InferHeader(
        tool_version="0.1.0",
        run_id="c" * 32,
        started_at=datetime.now(UTC),
        torch_version="2.13.0+cpu",
        host=_host(),
        model=model,
        devices=[DeviceInfo(name="cpu", available=True), DeviceInfo(name=device, available=True)],
        used_devices=["cpu", device],
        threads=[1, 2],
        batch_sizes=batches,
        warmup=2,
        iterations=12,
        optimizations=["channels_last"],
        applied_optimizations={"cpu": ["channels_last"], device: ["channels_last"]},
        matmul=[MatmulRate(device="cpu", threads=2, gflops_per_s=100.0)],
    )
    samples: list[BaseModel] = []
    for name, threads, per_image_s, fixed_s in settings:
        for batch in batches:
            base = fixed_s + per_image_s * (batch if fixed_s else batch**0.9)
            for phase, count in (("warmup", 2), ("measured", 12)):
                for repeat in range(count):
                    samples.append(
                        InferSample(
                            seq=len(samples),
                            device=name,
                            model="cnn8m",
                            batch_size=batch,
                            threads=threads,
                            phase=phase,  # type: ignore[arg-type]
                            repeat=repeat,
                            latency_ns=int(base * rng.uniform(0.95, 1.05) * 1e9),
                        )
                    )
    return _write(path, header, samples)


def cnn_parallel_run(path: Path) -> Path:
    """Five arms of 8 images per pass: sequential 120 ms, one thread 200 ms, pool 110 ms,
    batched 90 ms, oversubscribed 135 ms, each ±5%."""
    rng = random.Random(8)
    arms = {
        "sequential": (1, 2, 0.120),
        "1-thread sequential": (1, 1, 0.200),
        "thread pool": (2, 1, 0.110),
        "batched": (1, 2, 0.090),
        "oversubscribed pool": (2, 2, 0.135),
    }
    header = ParallelHeader(
        tool_version="0.1.0",
        run_id="d" * 32,
        started_at=datetime.now(UTC),
        torch_version="2.13.0+cpu",
        host=_host(),
        model=ModelInfo(
            name="resnet18",
            params=11_689_512,
            flops_per_image=3_628_146_688,
            flops_counted="convolutions and linear layers",
            image_shape=(3, 224, 224),
        ),
        images=8,
        largest_activation_bytes=3_211_264,
        pool_workers=2,
        arm_threads={arm: threads for arm, (_, threads, _) in arms.items()},
        optimizations=["channels_last"],
        warmup=1,
        repetitions=5,
    )
    samples: list[BaseModel] = []
    for repeat in range(5):
        for arm, (workers, threads, wall_s) in arms.items():
            samples.append(
                ParallelSample(
                    seq=len(samples),
                    arm=arm,
                    phase="measured",
                    repeat=repeat,
                    images=8,
                    workers=workers,
                    intra_op_threads=[threads] * workers,
                    wall_ns=int(wall_s * rng.uniform(0.95, 1.05) * 1e9),
                )
            )
    return _write(path, header, samples)


def cnn_train_run(path: Path) -> Path:
    """LeNet on digits, 6 epochs on 1 worker (0.5 s each) and on 2 (0.8 s each)."""
    header = TrainHeader(
        tool_version="0.1.0",
        run_id="e" * 32,
        started_at=datetime.now(UTC),
        torch_version="2.13.0+cpu",
        host=_host(),
        model="lenet (8×8)",
        params=19_754,
        dataset="sklearn digits 8×8",
        classes=10,
        train_size=1347,
        test_size=450,
        epochs=6,
        batch_size=16,
        learning_rate=0.005,
        target_accuracy=0.95,
        seed=0,
        workers=[1, 2],
        device="cpu",
        threads={"1 worker": 2, "2 workers": 1},
    )
    samples: list[BaseModel] = []
    for workers, epoch_s in ((1, 0.5), (2, 0.8)):
        for epoch in range(1, 7):
            samples.append(
                EpochSample(
                    seq=len(samples),
                    workers=workers,
                    epoch=epoch,
                    epoch_time_ns=int(epoch_s * (1 + 0.02 * (epoch % 3)) * 1e9),
                    train_loss=2.0 / epoch**1.5,
                    test_accuracy=min(0.99, 0.6 + 0.07 * epoch),
                )
            )
    return _write(path, header, samples)
