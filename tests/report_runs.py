"""Run files for the report tests, made the real way: obench vision against test servers.

`hostile_vision_run` is what a report must survive and show: two targets of different speeds
(each image taking one to three times as long as the first), one whose replies to one image are
not JSON but HTML meant to run in a browser, one that fails some requests with a hostile error
text and a reset connection, a version string and an image file name holding markup. Every
payload sets `window.__pwned` when it runs; a safe report shows them as text.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fake_ollama import FakeOllama, bundled_factors, bundled_reply
from typer.testing import CliRunner

from ollama_bench.cli import app

BUNDLED = Path(__file__).resolve().parent.parent / "images" / "cctv"
SCRIPT = "<script>window.__pwned = 1</script>"
IMG_ONERROR = '"><img src=x onerror="window.__pwned = 2">'
HOSTILE_IMAGE = 'x"><img src=x onerror=window.__pwned=4>.jpg'
HOSTILE_REPLY = f"Sure! {SCRIPT}{IMG_ONERROR} [click](javascript:alert(1)) | =cmd|' /C calc'!A0"
HOSTILE_ERROR = f"runner crashed {SCRIPT} $\\frac{{1}}{{0}}$ \x1b[2J"
HOSTILE_VERSION = f"0.24.0{SCRIPT}"

Make = Callable[..., FakeOllama]


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
    import base64

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
    delays = {"prompt_eval_s": 0.006, "token_delay_s": 0.0004, "load_s": 0.05}
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
