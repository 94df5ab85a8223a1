"""Does a target still answer correctly? Its scores against the baseline's, reply for reply.

Every image goes to every target round after round, so the comparison is paired: a target's
reply to image i in round r meets the baseline's reply to the same image in the same round, and
only pairs where both completed count. Score changes are clustered by image (stats.py says
why). Agreement compares the parsed replies themselves: at temperature 0 with a fixed seed two
servers of the same model should give the same reply unless their numerics differ.
Pure functions of stored samples: a run file gives the same figures again.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel

from ollama_bench.models import Sample
from ollama_bench.stats import QualityVerdict, paired_score_change
from ollama_bench.vision.scoring import extract_json

SHOWN_CHARS = 80  # of a differing value, in tables and JSON


class Change(BaseModel):
    """target − baseline of a score in [0, 1] (accuracy or validity), with its 95% CI."""

    delta: float
    ci95: tuple[float, float] | None  # None below two images
    verdict: QualityVerdict
    images: int  # images with at least one pair
    pairs: int  # (image, round) pairs both targets scored


class ReplyDifference(BaseModel):
    """One (image, round) where the two targets' parsed replies differ, at the first field."""

    image: str
    round: int  # the measured round, from 0
    path: str  # dotted path of the first differing field; "" when a reply holds no JSON
    target: str  # its value in the target's reply, as JSON text (shortened)
    baseline: str


class Agreement(BaseModel):
    """Share of (image, round) pairs whose parsed replies are equal, and one that is not."""

    rate: float | None  # None when no pair completed on both
    pairs: int
    example: ReplyDifference | None = None


Pair = tuple[Sample, Sample]  # (target's sample, baseline's sample)


def paired_samples(target: Iterable[Sample], baseline: Iterable[Sample]) -> list[Pair]:
    """Measured samples of both targets for the same image and round, both completed."""
    base = {(s.image, s.repeat): s for s in baseline if s.phase == "measured" and s.ok}
    return [
        (s, base[(s.image, s.repeat)])
        for s in target
        if s.phase == "measured" and s.ok and (s.image, s.repeat) in base
    ]


def _change(by_image: dict[str, list[tuple[float, float]]]) -> Change | None:
    by_image = {image: rounds for image, rounds in by_image.items() if rounds}
    if not by_image:
        return None
    d = paired_score_change(by_image)
    return Change(delta=d.delta, ci95=d.ci95, verdict=d.verdict, images=d.images, pairs=d.pairs)


def quality_changes(pairs: Sequence[Pair], fields: Sequence[str]) -> dict[str, Change]:
    """`overall`, `valid_rate` and each field, target − baseline; a key without pairs is absent.

    A field counts where both targets scored it (a field a target does not answer is left out);
    `overall` is, per pair, the mean over the fields both scored, so a target that answers fewer
    fields is compared on those only.
    """
    valid: dict[str, list[tuple[float, float]]] = {}
    per_field: dict[str, dict[str, list[tuple[float, float]]]] = {f: {} for f in fields}
    overall: dict[str, list[tuple[float, float]]] = {}
    for t, b in pairs:
        if t.validation is not None and b.validation is not None:
            scores = (float(t.validation.valid), float(b.validation.valid))
            valid.setdefault(t.image, []).append(scores)
        if t.score is None or b.score is None:
            continue
        common = [f for f in fields if f in t.score and f in b.score]
        for f in common:
            per_field[f].setdefault(t.image, []).append((t.score[f], b.score[f]))
        if common:
            mean_t = statistics.fmean(t.score[f] for f in common)
            mean_b = statistics.fmean(b.score[f] for f in common)
            overall.setdefault(t.image, []).append((mean_t, mean_b))
    found = {"overall": _change(overall), "valid_rate": _change(valid)}
    found |= {f: _change(per_field[f]) for f in fields}
    return {key: change for key, change in found.items() if change is not None}


def _parsed(sample: Sample, drop: set[str]) -> Any:
    """The reply's JSON without the fields either target leaves unanswered; the text if none."""
    value, extraction = extract_json(sample.reply)
    if extraction in ("none", "too_deep"):
        return sample.reply.strip()
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in drop}
    return value


def first_difference(a: Any, b: Any, prefix: str = "") -> str | None:
    """Dotted path of the first field where two JSON values differ; None when equal.

    >>> first_difference({"t": "x", "d": {"a": 1}}, {"t": "x", "d": {"a": 2}})
    'd.a'
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                return path
            if (found := first_difference(a[key], b[key], path)) is not None:
                return found
        return None
    return None if a == b else prefix


def _shown(value: Any, path: str) -> str:
    for key in path.split(".") if path else []:
        if not isinstance(value, dict) or key not in value:
            return "(missing)"
        value = value[key]
    text = value if isinstance(value, str) and not path else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def agreement(pairs: Sequence[Pair]) -> Agreement:
    """Share of pairs with equal parsed replies (fields either side leaves unanswered aside)."""
    same, example = 0, None
    for t, b in sorted(pairs, key=lambda pair: pair[0].seq):
        drop = set(t.unanswered) | set(b.unanswered)
        a, c = _parsed(t, drop), _parsed(b, drop)
        if a == c:
            same += 1
        elif example is None:
            path = first_difference(a, c) if isinstance(a, dict) and isinstance(c, dict) else ""
            path = path or ""
            example = ReplyDifference(
                image=t.image,
                round=t.repeat,
                path=path,
                target=_shown(a, path),
                baseline=_shown(c, path),
            )
    rate = same / len(pairs) if pairs else None
    return Agreement(rate=rate, pairs=len(pairs), example=example)


def repeat_identical_rate(samples: Iterable[Sample]) -> float | None:
    """Share of later measured rounds whose reply to an image is byte-identical to the first.

    None with a single round (nothing to compare). A failed request is not a reply: it is
    left out, and an image whose first round failed is compared with its first completed one.
    """
    first: dict[str, str] = {}
    same = later = 0
    for sample in sorted(samples, key=lambda s: s.repeat):
        if sample.phase != "measured" or not sample.ok:
            continue
        if sample.image not in first:
            first[sample.image] = sample.reply
            continue
        later += 1
        same += sample.reply == first[sample.image]
    return same / later if later else None
