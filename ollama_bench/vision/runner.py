"""Warm-up, rounds and their order; each request judged and handed on as one Sample.

Targets and images are interleaved (round 1: img1→A, img1→B, img2→A, …) so that drift on a busy
machine falls on every target alike. Requests run one at a time: concurrent requests would
queue on Ollama's single mllama slot and compete for the client's CPU. Samples go to the
observer as they complete, so an interrupted run keeps all of them. Between requests nothing
else is computed: a stop rule (--until-ci) is asked only once a round is complete, and steps a
resumed run already recorded are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ollama_bench.models import FieldError, Phase, Sample, Validation
from ollama_bench.targets.base import Exchange, Target
from ollama_bench.vision.scenarios import ImageInput, Scenario
from ollama_bench.vision.scoring import extract_json, score_fields

StepKey = tuple[Phase, int, str, str]  # phase, repeat (the round when measured), image, target


@dataclass(frozen=True)
class Step:
    phase: Phase
    repeat: int
    image: ImageInput
    target: str
    segment: int = 0  # which resumption of the run sends it

    @property
    def key(self) -> StepKey:
        return (self.phase, self.repeat, self.image.name, self.target)


def warmup_steps(
    targets: Sequence[str], images: Sequence[ImageInput], warmup: int, segment: int = 0
) -> list[Step]:
    """`warmup` requests per target, cycling through the images."""
    return [
        Step("warmup", i, images[i % len(images)], name, segment)
        for i in range(warmup)
        for name in targets
    ]


def round_steps(
    targets: Sequence[str], images: Sequence[ImageInput], repeat: int, segment: int = 0
) -> list[Step]:
    """One round: every image on every target, targets interleaved per image."""
    return [Step("measured", repeat, image, name, segment) for image in images for name in targets]


def plan(
    targets: Sequence[str], images: Sequence[ImageInput], warmup: int, runs: int
) -> list[Step]:
    """Warm-ups first, then `runs` interleaved rounds."""
    steps = warmup_steps(targets, images, warmup)
    for repeat in range(runs):
        steps += round_steps(targets, images, repeat)
    return steps


class Observer(Protocol):
    def started(self, step: Step) -> None: ...
    def finished(self, sample: Sample) -> None: ...


def judge(
    scenario: Scenario, exchange: Exchange, label: Mapping[str, object] | None
) -> tuple[Validation | None, dict[str, float] | None]:
    """Validation and score of a completed reply; (None, None) when the request failed."""
    if exchange.error is not None:
        return None, None
    value, extraction = extract_json(exchange.reply)
    if extraction == "none":
        errors = [FieldError(path="", message="no JSON object found in the reply")]
    else:
        errors = scenario.validate(value)
    server = exchange.timing.server
    if server and server.done_reason == "length":
        errors.append(
            FieldError(path="", message="reply cut off at num_predict (done_reason length)")
        )
    validation = Validation(extraction=extraction, valid=not errors, errors=errors)
    if label is None:
        return validation, None
    return validation, score_fields(value, label, scenario.scorers(label))


async def execute(
    steps: Sequence[Step],
    targets: Mapping[str, Target],
    scenario: Scenario,
    *,
    structured: bool,
    observer: Observer,
    first_seq: int = 0,
) -> int:
    """Send `steps` in order; returns the next free sequence number."""
    schema = scenario.schema if structured else None
    for seq, step in enumerate(steps, start=first_seq):
        observer.started(step)
        started_at = datetime.now(UTC)
        exchange = await targets[step.target].chat(scenario.prompt, step.image.data, schema)
        validation, score = judge(scenario, exchange, scenario.labels.get(step.image.name))
        observer.finished(
            Sample(
                seq=seq,
                target=step.target,
                image=step.image.name,
                image_sha256=step.image.sha256,
                phase=step.phase,
                repeat=step.repeat,
                segment=step.segment,
                started_at=started_at,
                ok=exchange.error is None,
                error=exchange.error,
                timing=exchange.timing,
                reply=exchange.reply,
                validation=validation,
                score=score,
            )
        )
    return first_seq + len(steps)


@dataclass(frozen=True)
class Rounds:
    """How many rounds to measure: `least` always, then up to `most` while `stop` says go on."""

    least: int
    most: int
    stop: Callable[[int], bool] | None = None  # asked with the number of complete rounds
    done: Set[StepKey] = frozenset()  # steps already recorded (a resumed run)
    segment: int = 0


async def measure(
    rounds: Rounds,
    targets: Mapping[str, Target],
    names: Sequence[str],
    scenario: Scenario,
    *,
    structured: bool,
    observer: Observer,
    first_seq: int,
) -> tuple[int, bool]:
    """Measure round after round; returns the rounds completed and whether `stop` ended them."""
    seq = first_seq
    for repeat in range(max(rounds.most, rounds.least)):
        steps = [
            step
            for step in round_steps(names, scenario.images, repeat, rounds.segment)
            if step.key not in rounds.done
        ]
        seq = await execute(
            steps, targets, scenario, structured=structured, observer=observer, first_seq=seq
        )
        complete = repeat + 1
        if complete >= rounds.least and rounds.stop is not None and rounds.stop(complete):
            return complete, True
    return max(rounds.most, rounds.least), False
