"""--resume: continue a run file where it stopped, with the settings its header recorded.

A resumed run must measure the same thing, or its samples could not be read as one run: flags
given beside --resume must agree with the header, the scenario must have the same prompt and
images (names and sha256), and every target the same model digest. Steps already recorded
(phase, round, image, target) are skipped. The targets are warmed up again, as a new segment,
since the servers may have unloaded the model since the run stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ollama_bench.errors import UsageError
from ollama_bench.models import RunHeader, RunSource, TargetInfo, TargetSpec
from ollama_bench.store import VisionRun, read_vision_run
from ollama_bench.vision.runner import StepKey
from ollama_bench.vision.scenarios import Scenario, builtin_names

RESTART = "leave it out to use the recorded value, or start a new run without --resume"


@dataclass
class ResumePoint:
    """What a resumed run continues from."""

    path: Path
    run: VisionRun
    done: set[StepKey] = field(default_factory=set)

    @property
    def segment(self) -> int:
        return len(self.run.segments) + 1

    @property
    def next_seq(self) -> int:
        return max((s.seq for s in self.run.samples), default=-1) + 1

    @property
    def finished(self) -> bool:
        """The last segment ended on its own: its stop rule was met."""
        footer = self.run.footer
        return footer is not None and not footer.interrupted and footer.stop is not None


def source_of(scenario: str, images: Path | None) -> RunSource:
    """The scenario and image folder as a later --resume can find them from any directory."""
    name = scenario if scenario in builtin_names() else str(Path(scenario).resolve())
    return RunSource(scenario=name, images=str(images.resolve()) if images else None)


def open_run(path: Path) -> ResumePoint:
    run = read_vision_run(path)
    if run.header.source is None:
        raise UsageError(
            f"{path} does not record where its scenario came from, so it cannot be resumed",
            "it was written by an older obench; start a new run",
        )
    done: set[StepKey] = {
        (s.phase, s.repeat, s.image, s.target) for s in run.samples if s.phase == "measured"
    }
    return ResumePoint(path=path, run=run, done=done)


def target_record(target: TargetSpec | TargetInfo) -> dict[str, Any]:
    """What a run file keeps of a target's spec: never its secrets (the URL's password is masked,
    header values are not kept)."""
    return {
        "name": target.name,
        "url": target.url,
        "options": target.options,
        "api": target.api,
        "images": target.images,
    }


def recorded_flags(header: RunHeader) -> dict[str, object]:
    """Each flag of `obench vision` that shapes a run, with the value the header recorded."""
    s, source = header.settings, header.source
    assert source is not None
    return {
        "--scenario": source.scenario,
        "--images": source.images,
        "--target": [target_record(t) for t in header.targets],
        "--model": s.model,
        "--runs": header.runs,
        "--warmup": header.warmup,
        "--until-ci": header.stop.until_ci_pct,
        "--max-runs": header.stop.max_runs,
        "--format": s.structured,
        "--timeout": s.timeout_s,
        "--num-ctx": s.num_ctx,
        "--num-predict": s.num_predict,
        "--seed": s.seed,
        "--keep-alive": s.keep_alive,
        "--max-image-side": s.max_image_side_px,
        "--monitor": header.monitoring is not None,
    }


def _shown(value: object) -> str:
    if isinstance(value, list):  # targets
        return " ".join(f"{t['name']}={t['url']}" for t in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "(none)" if value is None else str(value)


def check_flags(point: ResumePoint, given: Mapping[str, object]) -> None:
    """Raise UsageError naming the first flag given beside --resume that the header contradicts."""
    recorded = recorded_flags(point.run.header)
    for flag, value in recorded.items():
        if flag in given and given[flag] != value:
            raise UsageError(
                f"{flag} {_shown(given[flag])} differs from {_shown(value)} recorded in "
                f"{point.path}",
                RESTART,
            )


def check_inputs(point: ResumePoint, scenario: Scenario) -> None:
    """The prompt and the images must be the ones the run started with."""
    header = point.run.header
    if scenario.prompt_sha256 != header.prompt_sha256:
        raise UsageError(
            f"the prompt of scenario {header.scenario} changed since {point.path} was started",
            "restore it, or start a new run",
        )
    now = {image.name: image.info().sha256 for image in scenario.images}  # the file's, as kept
    for image in header.images:
        if image.name not in now:
            raise UsageError(f"image {image.name} of {point.path} is gone", "restore it")
        if now[image.name] != image.sha256:
            raise UsageError(
                f"image {image.name} has changed since {point.path} was started (sha256 "
                f"{now[image.name][:12]}, recorded {image.sha256[:12]})",
                "restore it, or start a new run",
            )
    extra = sorted(set(now) - {image.name for image in header.images})
    if extra:
        raise UsageError(
            f"image {extra[0]} was not part of {point.path}", "move it out of the image folder"
        )


def check_targets(point: ResumePoint, infos: list[TargetInfo]) -> None:
    """Every target the run measured must serve the same model build as when it started."""
    recorded = {t.name: t for t in point.run.header.targets if t.usable}
    for info in infos:
        before = recorded.get(info.name)
        if before is None:
            continue
        if not info.usable:
            raise UsageError(
                f"cannot resume {point.path}: target {info.name} is not usable ({info.error})",
                "start it again, then resume",
            )
        if info.model_digest != before.model_digest:
            raise UsageError(
                f"target {info.name} ({info.url}) now serves model digest "
                f"{(info.model_digest or '?')[:12]}, not {(before.model_digest or '?')[:12]} as "
                f"recorded in {point.path}",
                "serve the same model build, or start a new run",
            )
