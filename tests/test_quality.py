"""Quality against the baseline from stored samples: score changes, agreement, determinism."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from ollama_bench.models import RequestError, RequestSettings, RunHeader, Sample, TargetInfo, Timing
from ollama_bench.targets.base import Exchange
from ollama_bench.views.tables import render
from ollama_bench.vision.quality import (
    agreement,
    first_difference,
    paired_samples,
    quality_changes,
    repeat_identical_rate,
)
from ollama_bench.vision.runner import judge
from ollama_bench.vision.scenarios import load_scenario
from ollama_bench.vision.summary import summarise

CCTV = load_scenario("cctv")
NOW = datetime(2026, 11, 20, tzinfo=UTC)
_seq = itertools.count()


def sample(
    target: str,
    image: str,
    repeat: int,
    reply: dict[str, Any] | str | None,
    unanswered: tuple[str, ...] = (),
    sees_image: bool = True,
) -> Sample:
    """A measured sample judged as the runner judges it; `reply=None` is a failed request, and
    a target that is sent no image (`images=false`) is validated but not scored."""
    text = reply if isinstance(reply, str) else json.dumps(reply) if reply is not None else ""
    error = RequestError(kind="timeout", message="x") if reply is None else None
    exchange = Exchange(text, Timing(latency_ns=1_000_000), error, unanswered=unanswered)
    validation, score = judge(CCTV, exchange, CCTV.labels[image] if sees_image else None)
    return Sample(
        seq=next(_seq),
        target=target,
        image=image,
        image_sha256="0" * 64,
        phase="measured",
        repeat=repeat,
        started_at=NOW,
        ok=error is None,
        error=error,
        timing=exchange.timing,
        reply=text,
        validation=validation,
        score=score,
        unanswered=list(unanswered),
    )


def right(image: str, **changes: Any) -> dict[str, Any]:
    return {**CCTV.labels[image], **changes}


IMAGES = sorted(CCTV.labels)  # cctv_01 … cctv_06


def test_identical_and_differing_replies() -> None:
    base = [sample("cpu", i, r, right(i)) for r in range(2) for i in IMAGES[:3]]
    target = [
        sample("gpu", IMAGES[0], 0, right(IMAGES[0])),
        sample("gpu", IMAGES[1], 0, right(IMAGES[1])),
        sample("gpu", IMAGES[2], 0, right(IMAGES[2], traffic_level=60)),  # label says 55
        sample("gpu", IMAGES[0], 1, "```json\n" + json.dumps(right(IMAGES[0])) + "\n```"),
        sample("gpu", IMAGES[1], 1, None),  # failed: no pair
        sample("gpu", IMAGES[2], 1, right(IMAGES[2])),
    ]
    pairs = paired_samples(target, base)
    assert len(pairs) == 5
    agreed = agreement(pairs)
    # 4 of 5 pairs parse to equal values: a fenced reply is the same reply
    assert agreed.rate == pytest.approx(4 / 5) and agreed.pairs == 5
    example = agreed.example
    assert example is not None
    assert (example.image, example.round, example.path) == (IMAGES[2], 0, "traffic_level")
    assert (example.target, example.baseline) == ("60", "55")


def test_unanswered_fields_are_left_out_of_agreement() -> None:
    image = IMAGES[1]
    ocr_reply = {"title": CCTV.labels[image]["title"], "datetime": CCTV.labels[image]["datetime"]}
    ocr = sample("ocr", image, 0, ocr_reply, unanswered=("traffic_level",))
    vlm = sample("cpu", image, 0, right(image))
    assert agreement([(ocr, vlm)]).rate == 1.0
    no_json = sample("gpu", image, 0, "I cannot read this frame.")
    differs = agreement([(no_json, vlm)]).example
    assert differs is not None and differs.path == "" and differs.target.startswith("I cannot")


def test_first_difference() -> None:
    assert first_difference({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 2}}) is None
    assert first_difference({"a": 1}, {"a": 1, "z": 0}) == "z"
    assert first_difference({"a": [1, 2]}, {"a": [1, 3]}) == "a"


def test_repeat_identical_rate() -> None:
    runs = [
        sample("gpu", IMAGES[0], 0, right(IMAGES[0])),
        sample("gpu", IMAGES[0], 1, right(IMAGES[0])),
        sample("gpu", IMAGES[0], 2, right(IMAGES[0], traffic_level=6)),
        sample("gpu", IMAGES[1], 0, None),  # its first completed round is the reference
        sample("gpu", IMAGES[1], 1, right(IMAGES[1])),
        sample("gpu", IMAGES[1], 2, right(IMAGES[1])),
    ]
    assert repeat_identical_rate(runs) == pytest.approx(2 / 3)
    assert repeat_identical_rate(runs[:1]) is None


def test_quality_changes_by_hand() -> None:
    base, target = [], []
    for i in IMAGES[:3]:
        for r in range(2):
            base.append(sample("cpu", i, r, right(i)))
    # image 1: title wrong in both rounds; image 2: traffic off by 20 in round 0 only; image 3 ok
    target += [sample("gpu", IMAGES[0], r, right(IMAGES[0], title="CAM 99")) for r in range(2)]
    target += [
        sample("gpu", IMAGES[1], 0, right(IMAGES[1], traffic_level=46)),  # label 26
        sample("gpu", IMAGES[1], 1, right(IMAGES[1])),
    ]
    target += [sample("gpu", IMAGES[2], r, right(IMAGES[2])) for r in range(2)]
    changes = quality_changes(paired_samples(target, base), ["title", "datetime", "traffic_level"])
    assert set(changes) == {"overall", "valid_rate", "title", "datetime", "traffic_level"}
    assert changes["title"].delta == pytest.approx(-1 / 3)  # image means −1, 0, 0
    assert changes["traffic_level"].delta == pytest.approx(-0.1 / 3)  # image means 0, −0.1, 0
    assert changes["datetime"].delta == 0.0 and changes["valid_rate"].delta == 0.0
    # overall per pair is the mean of three fields: image means −1/3, −0.2/6, 0
    assert changes["overall"].delta == pytest.approx((-1 / 3 - 0.1 / 3) / 3)
    assert changes["title"].images == 3 and changes["title"].pairs == 6
    assert all(c.verdict == "no clear difference" for c in changes.values())


def header(targets: list[TargetInfo]) -> RunHeader:
    return RunHeader(
        tool_version="0",
        run_id="r",
        started_at=NOW,
        scenario="cctv",
        prompt_sha256="0" * 64,
        schema_sent=None,
        settings=RequestSettings(model="m"),
        warmup=0,
        runs=3,
        targets=targets,
        images=[],
        host={},
        labels=CCTV.labels,
    )


def test_summary_json_and_tables_hold_quality() -> None:
    samples = []
    for r in range(3):
        for i in IMAGES:
            samples.append(sample("cpu", i, r, right(i)))
            # gpu: traffic off by +20 on every image, so 20 points worse on that field
            worse = min(100, CCTV.labels[i]["traffic_level"] + 20)
            samples.append(sample("gpu", i, r, right(i, traffic_level=worse)))
            label = CCTV.labels[i]
            ocr = {"title": label["title"].replace(" ", ""), "datetime": label["datetime"]}
            samples.append(sample("ocr", i, r, ocr, unanswered=("traffic_level",)))
    infos = [
        TargetInfo(name="cpu", url="http://c"),
        TargetInfo(name="gpu", url="http://g"),
        TargetInfo(name="ocr", url="in-process", api="ocr"),
    ]
    summary = summarise(header(infos), samples, "run.jsonl")
    data = json.loads(summary.model_dump_json())
    by_name = {t["name"]: t for t in data["targets"]}
    assert by_name["ocr"]["accuracy"]["traffic_level"] is None
    assert by_name["ocr"]["unanswered"] == ["traffic_level"]
    assert by_name["ocr"]["accuracy"]["overall"] == 1.0  # over title and datetime
    assert by_name["gpu"]["repeat_identical_rate"] == 1.0
    gpu, ocr = data["comparisons"]
    assert gpu["target"] == "gpu" and gpu["baseline"] == "cpu"
    assert set(gpu["quality"]) == {"overall", "valid_rate", "title", "datetime", "traffic_level"}
    traffic = gpu["quality"]["traffic_level"]
    assert set(traffic) >= {"delta", "ci95", "verdict"}
    # each image loses 20 points, except cctv_04 (label 91: the reply is capped at 100)
    assert traffic["delta"] == pytest.approx((5 * -0.20 - 0.09) / 6)
    assert traffic["verdict"] == "worse"
    assert gpu["quality"]["title"]["verdict"] == "no clear difference"
    assert gpu["identical_reply_rate"] == 0.0 and gpu["identical_reply_pairs"] == 18
    assert gpu["reply_difference"]["path"] == "traffic_level"
    # ocr is compared on the fields it answers: no traffic_level change, and equal titles
    assert "traffic_level" not in ocr["quality"]
    assert ocr["quality"]["overall"]["delta"] == 0.0
    assert ocr["quality"]["title"]["delta"] == 0.0  # "CAM31-02A-62…" is the title
    assert ocr["identical_reply_rate"] == 0.0  # the strings differ in their spaces
    console = Console(width=100, record=True)
    render(summary, console)
    text = console.export_text()
    assert "Quality vs baseline" in text and "not answered" in text
    assert "100% (2 of 3 fields)" in text
    assert "gpu vs cpu" in text and "−18.2" in text and "worse" in text
    assert "identical replies" in text and "differ first at cctv_01.jpg round 1" in text


def test_a_differing_reply_is_printed_inert() -> None:
    image = IMAGES[0]
    hostile = "[bold red]PWNED[/bold red]\x1b[2J\x1b]0;title\x07 done"
    pair = (sample("gpu", image, 0, hostile), sample("cpu", image, 0, right(image)))
    summary = summarise(
        header([TargetInfo(name="cpu", url="http://c"), TargetInfo(name="gpu", url="http://g")]),
        [*pair],
        "run.jsonl",
    )
    console = Console(width=200, record=True, force_terminal=True)
    render(summary, console)
    text = console.export_text(styles=False)
    assert "[bold red]PWNED[/bold red]" in text  # shown as typed, not as markup
    ansi = console.export_text(styles=True)
    assert "\x1b[2J" not in ansi and "\x1b]0;" not in ansi and "\x07" not in ansi


def test_a_text_only_target_is_compared_on_validity_only() -> None:
    samples = []
    for i in IMAGES:
        samples.append(sample("cpu", i, 0, right(i)))
        samples.append(sample("blind", i, 0, right(i, title="CAM ?"), sees_image=False))
    infos = [
        TargetInfo(name="cpu", url="http://c"),
        TargetInfo(name="blind", url="http://b", api="openai", images=False),
    ]
    (comparison,) = summarise(header(infos), samples, "run.jsonl").comparisons
    assert set(comparison.quality) == {"valid_rate"}
    assert comparison.identical_reply_pairs == len(IMAGES)
