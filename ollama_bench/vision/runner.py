"""Warm-up, rounds and their order; each request judged and handed on as one Sample.

Targets and images are interleaved (round 1: img1→A, img1→B, img2→A, …) so that drift on a busy
machine falls on every target alike. Requests run one at a time: concurrent requests would
queue on Ollama's single mllama slot and compete for the client's CPU. Samples go to the
observer as they complete, so an interrupted run keeps all of them. Between requests nothing
else is computed: a stop rule (--until-ci) is asked only once a round is complete, and steps a
resumed run already recorded are skipped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ollama_bench.models import FieldError, Phase, Sample, Timing, Validation
from ollama_bench.targets.base import Exchange, Target
from ollama_bench.vision.health import TargetHealth
from ollama_bench.vision.scenarios import ImageInput, Scenario
from ollama_bench.vision.scoring import FieldScorer, clip, extract_json, score_fields

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


class Observer(Protocol):
    def started(self, step: Step) -> None: ...
    def finished(self, sample: Sample) -> None: ...


def _within(path: str, fields: Sequence[str]) -> bool:
    return any(path == f or path.startswith(f"{f}.") for f in fields)


def _about_answered(error: FieldError, unanswered: Sequence[str]) -> bool:
    """False for an error that only says an unanswered field is missing or wrong."""
    if _within(error.path, unanswered):
        return False
    # jsonschema reports a missing property at its parent: "'traffic_level' is a required property"
    return not (
        error.path == ""
        and any(error.message == f"{f!r} is a required property" for f in unanswered)
    )


def judge(
    scenario: Scenario, exchange: Exchange, label: Mapping[str, object] | None
) -> tuple[Validation | None, dict[str, float] | None]:
    """Validation and score of a completed reply; (None, None) when the request failed.

    Never raises: the reply is untrusted, and a reply that breaks the judging (a RecursionError
    from JSON nested thousands deep, anything else) is a recorded validation failure, scored 0
    where the scorers still run, never a lost sample or an abandoned run. Fields the target does
    not answer by design (`Exchange.unanswered`) are neither required nor scored: they are
    reported as not answered, not hidden inside a lower score.
    """
    if exchange.error is not None:
        return None, None
    try:
        return _judge(scenario, exchange, label)
    except Exception as exc:
        why = f"the reply cannot be judged ({type(exc).__name__}: {exc})"
        error = FieldError(path="", message=clip(why))
        validation = Validation(extraction="none", valid=False, errors=[error])
        score = None
        if label is not None:
            with contextlib.suppress(Exception):
                score = score_fields(None, label, _scorers(scenario, label, exchange.unanswered))
        return validation, score


def _scorers(
    scenario: Scenario, label: Mapping[str, object], unanswered: Sequence[str]
) -> dict[str, FieldScorer]:
    return {k: v for k, v in scenario.scorers(label).items() if not _within(k, unanswered)}


def _judge(
    scenario: Scenario, exchange: Exchange, label: Mapping[str, object] | None
) -> tuple[Validation, dict[str, float] | None]:
    unanswered = exchange.unanswered
    value, extraction = extract_json(exchange.reply)
    if extraction == "too_deep":
        extraction = "none"
        errors = [FieldError(path="", message="the reply's JSON is nested too deeply to parse")]
    elif extraction == "none":
        errors = [FieldError(path="", message="no JSON object found in the reply")]
    else:
        errors = [e for e in scenario.validate(value) if _about_answered(e, unanswered)]
    server = exchange.timing.server
    if server and server.done_reason == "length":
        errors.append(
            FieldError(path="", message="reply cut off at num_predict (done_reason length)")
        )
    validation = Validation(extraction=extraction, valid=not errors, errors=errors)
    if label is None:
        return validation, None
    return validation, score_fields(value, label, _scorers(scenario, label, unanswered))


async def execute(
    steps: Sequence[Step],
    targets: Mapping[str, Target],
    scenario: Scenario,
    *,
    structured: bool,
    observer: Observer,
    first_seq: int = 0,
    health: TargetHealth | None = None,
) -> int:
    """Send each step in order; a target `health` has given up on is not sent to (see health.py).
    Returns the next free sequence number."""
    schema = scenario.schema if structured else None
    for seq, step in enumerate(steps, start=first_seq):
        observer.started(step)
        started_at = datetime.now(UTC)
        refusal = health.refusal(step.target) if health is not None else None
        sees_image = targets[step.target].spec.images  # images=false: the prompt alone
        if refusal is not None:
            exchange = Exchange(reply="", timing=Timing(latency_ns=0), error=refusal)
        else:
            image = step.image.data if sees_image else None
            exchange = await targets[step.target].chat(scenario.prompt, image, schema)
            if health is not None:
                health.record(step.target, exchange.error)
        # a reply to no image is validated, never scored: there is nothing it could be right about
        label = scenario.labels.get(step.image.name) if sees_image else None
        validation, score = judge(scenario, exchange, label)
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
                unanswered=list(exchange.unanswered),
                text_boxes=exchange.text_boxes,
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

    def pending(
        self, names: Sequence[str], images: Sequence[ImageInput], repeat: int
    ) -> list[Step]:
        """Round `repeat`'s steps that are not recorded yet."""
        steps = round_steps(names, images, repeat, self.segment)
        return [step for step in steps if step.key not in self.done]


async def measure(
    rounds: Rounds,
    targets: Mapping[str, Target],
    names: Sequence[str],
    scenario: Scenario,
    *,
    structured: bool,
    observer: Observer,
    first_seq: int,
    health: TargetHealth | None = None,
) -> tuple[int, bool]:
    """Measure round after round; returns the rounds completed and whether `stop` ended them."""
    seq = first_seq
    for repeat in range(max(rounds.most, rounds.least)):
        seq = await execute(
            rounds.pending(names, scenario.images, repeat),
            targets,
            scenario,
            structured=structured,
            observer=observer,
            first_seq=seq,
            health=health,
        )
        complete = repeat + 1
        if complete >= rounds.least and rounds.stop is not None and rounds.stop(complete):
            return complete, True
    return max(rounds.most, rounds.least), False
