"""Is each target what its name says? Reachable, right version, model present, loaded where.

`examine` gathers the facts through targets/ollama.py (probe, `/api/ps`, optionally a load with the
run's options); everything else is pure, so `obench vision` reuses `placement_findings` to warn
when a target named "gpu" runs on the CPU — the usual way a GPU-versus-CPU comparison goes wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, computed_field

from ollama_bench.models import Placement, RequestSettings, TargetInfo, TargetSpec
from ollama_bench.targets import open_target
from ollama_bench.targets.base import TargetFailure, missing_model_error
from ollama_bench.targets.ollama import (
    OllamaTarget,
    mllama_version_warning,
    needs_mllama,
)

Role = Literal["gpu", "cpu"]
Level = Literal["error", "warning", "note"]

#: Runner options: a difference between two targets on one server reloads the model (ref. §5).
RUNNER_OPTIONS = ("num_ctx", "num_gpu", "num_thread", "num_batch", "main_gpu", "use_mmap")
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")

EXIT_OK, EXIT_WARNINGS, EXIT_UNUSABLE = 0, 1, 3
#: Why a server cannot say where its model runs (`Target.placement()` gives None), by API.
UNREPORTED_WHY = {"openai": "the OpenAI-compatible API has none"}


class Finding(BaseModel):
    """One thing doctor found: an error makes a target unusable, a warning skews results."""

    level: Level
    code: str
    target: str | None
    message: str
    hint: str = ""


class TargetCheck(BaseModel):
    """The facts about one target: the probe, and where the model is loaded."""

    info: TargetInfo
    # None: not read (target unreachable), the read failed (placement_error), or the server
    # cannot tell (`unreported`)
    placement: Placement | None = None
    placement_error: str | None = None
    loaded_by_doctor: bool = False  # --load loaded it with the run's options just before
    load_error: str | None = None

    @property
    def unreported(self) -> bool:
        """Reached and asked, and its server has no way to say where the model runs."""
        return self.info.reachable and self.placement is None and self.placement_error is None


class Diagnosis(BaseModel):
    model: str
    num_ctx: int
    targets: list[TargetCheck]
    findings: list[Finding]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exit_code(self) -> int:
        levels = {f.level for f in self.findings}
        if "error" in levels:
            return EXIT_UNUSABLE
        return EXIT_WARNINGS if "warning" in levels else EXIT_OK


def role_of(name: str) -> Role | None:
    """`gpu` for names with "gpu" or "cuda", `cpu` for names with "cpu", None otherwise or both.

    >>> role_of("gpu-4090"), role_of("CPU"), role_of("box-11434"), role_of("gpu-vs-cpu")
    ('gpu', 'cpu', None, None)
    """
    lowered = name.lower()
    gpu = "gpu" in lowered or "cuda" in lowered
    cpu = "cpu" in lowered
    if gpu != cpu:
        return "gpu" if gpu else "cpu"
    return None


def _gib(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "?"
    return "0 B" if size_bytes == 0 else f"{size_bytes / 2**30:.2f} GiB"


def placement_findings(name: str, placement: Placement) -> list[Finding]:
    """Warnings when where the model runs contradicts the target's name; none when unknown."""
    role, kind = role_of(name), placement.processor
    if role is None or not placement.loaded:
        return []
    sizes = f"size_vram {_gib(placement.size_vram_bytes)} of {_gib(placement.size_bytes)}"
    if role == "gpu" and kind == "cpu":
        return [
            Finding(
                level="warning",
                code="gpu-on-cpu",
                target=name,
                message=f"{name} is named like a GPU target but runs the model 100% on the CPU "
                f"({sizes}): its figures are CPU figures",
                hint="the server sees no GPU: check the compose GPU reservation or docker run "
                "--gpus=all and the NVIDIA Container Toolkit, CUDA_VISIBLE_DEVICES, and that this "
                "target has no num_gpu=0",
            )
        ]
    if role == "gpu" and kind == "split":
        return [
            Finding(
                level="warning",
                code="gpu-partial",
                target=name,
                message=f"{name} holds only {placement.gpu_pct}% of the model in GPU memory "
                f"({placement.label}, {sizes}): the layers on the CPU slow every request",
                hint="free GPU memory (other loaded models: ollama ps), lower --num-ctx, "
                "or use a smaller quantisation",
            )
        ]
    if role == "cpu" and kind in ("gpu", "split"):
        return [
            Finding(
                level="warning",
                code="cpu-on-gpu",
                target=name,
                message=f"{name} is named like a CPU target but runs the model "
                f"{placement.label} ({sizes}): its figures are not CPU figures",
                hint="start that server with CUDA_VISIBLE_DEVICES=-1 (compose.yaml does) "
                "or add num_gpu=0 to this target",
            )
        ]
    return []


def server_key(url: str) -> str:
    """A normalised URL with every loopback spelling made one, so localhost == 127.0.0.1.

    >>> server_key("http://127.0.0.1:11434") == server_key("http://localhost:11434")
    True
    """
    for name in _LOOPBACK:
        url = url.replace(f"://{name}:", "://localhost:")
    return url


def duplicate_findings(specs: Sequence[TargetSpec]) -> list[Finding]:
    """Two targets on one server: the same options measure the same thing twice; runner options
    that differ make Ollama reload the model at every switch between them."""
    found: list[Finding] = []
    groups: dict[str, list[TargetSpec]] = {}
    for spec in specs:
        groups.setdefault(server_key(spec.url), []).append(spec)
    for members in groups.values():
        for i, first in enumerate(members):
            for other in members[i + 1 :]:
                found.append(_pair_finding(first, other))
    return found


def _pair_finding(first: TargetSpec, other: TargetSpec) -> Finding:
    names = f"{first.name} and {other.name}"
    if first.options == other.options:
        return Finding(
            level="warning",
            code="same-server",
            target=other.name,
            message=f"{names} are the same server ({first.url}) with the same options: "
            "any difference between them is noise",
            hint="point them at two servers (obench up starts gpu on :11434 and cpu on :11435), "
            "or give one of them num_gpu=0",
        )
    differing = sorted(
        key
        for key in set(first.options) | set(other.options)
        if key in RUNNER_OPTIONS and first.options.get(key) != other.options.get(key)
    )
    reload = f": Ollama reloads the model at every switch ({', '.join(differing)} differ)"
    return Finding(
        level="note",
        code="shared-server",
        target=other.name,
        message=f"{names} share {first.url} with different options" + (reload if differing else ""),
        hint="two servers avoid the reloads (obench up)" if differing else "",
    )


def target_findings(check: TargetCheck, settings: RequestSettings) -> list[Finding]:
    """What makes one target unusable (errors), skews its figures (warnings), or is worth a note."""
    info, model, name = check.info, settings.model, check.info.name
    if not info.reachable:
        return [
            Finding(
                level="error",
                code="unreachable",
                target=name,
                message=info.error or f"cannot reach {info.url}",
                hint="start it (obench up, or ollama serve) or fix the URL in --target",
            )
        ]
    if info.error and not info.model_missing:
        # the OpenAI probe's warnings say how to fix what it found (e.g. llama-server --mmproj)
        hint = "; ".join(info.warnings) if info.api == "openai" else ""
        return [
            Finding(level="error", code="bad-answer", target=name, message=info.error, hint=hint)
        ]
    checks = _openai_findings if info.api == "openai" else _ollama_findings
    found = checks(info, model)
    if any(f.level == "error" for f in found):
        return found  # where it would be loaded does not matter: it cannot run there
    return found + _placement_checks(check, settings)


def _ollama_findings(info: TargetInfo, model: str) -> list[Finding]:
    """Ollama: a release that cannot run the model, the model missing, no vision capability."""
    name = info.name
    found: list[Finding] = []
    why = mllama_version_warning(info.version or "")
    if why and needs_mllama(model, info.model_family):
        found.append(Finding(level="error", code="version", target=name, message=why))
    if not info.model_present:
        found.append(
            Finding(
                level="error",
                code="model-missing",
                target=name,
                message=missing_model_error(model, info.url),
                hint=f"obench pull --target {name}={info.url} --model {model}",
            )
        )
    elif not found and info.capabilities and "vision" not in info.capabilities:
        found.append(
            Finding(
                level="warning",
                code="no-vision",
                target=name,
                message=f"{model} on {name} does not list the vision capability",
                hint="images may be ignored; is this the right model?",
            )
        )
    return found


def _openai_findings(info: TargetInfo, model: str) -> list[Finding]:
    """An OpenAI-compatible server: the model it serves, and what the probe warned of."""
    name = info.name
    if not info.model_present:
        return [
            Finding(
                level="error",
                code="model-missing",
                target=name,
                message=missing_model_error(model, info.url),
                hint="; ".join(info.warnings) or "start the server with that model",
            )
        ]
    return [Finding(level="warning", code="target", target=name, message=w) for w in info.warnings]


def _placement_checks(check: TargetCheck, settings: RequestSettings) -> list[Finding]:
    """Where the model runs: unknown (and why), not loaded, contradicting the target's name, or
    loaded with another context than a run sends."""
    info, model, name = check.info, settings.model, check.info.name
    if check.unreported:
        return [
            Finding(
                level="note",
                code="placement-unknown",
                target=name,
                message=f"{name} has no route saying whether the model runs on a GPU or the CPU "
                f"({UNREPORTED_WHY.get(info.api, 'its API has none')}), so obench cannot check "
                "its name",
                hint="check on that machine: nvidia-smi, or the server's start-up log",
            )
        ]
    found: list[Finding] = []
    if check.load_error:
        found.append(
            Finding(level="error", code="load-failed", target=name, message=check.load_error)
        )
    if check.placement_error:
        found.append(
            Finding(level="warning", code="ps", target=name, message=check.placement_error)
        )
    placement = check.placement
    if placement is not None and not placement.loaded and not check.load_error:
        found.append(
            Finding(
                level="note",
                code="not-loaded",
                target=name,
                message=f"{model} is not loaded on {name}, so where it will run is unknown",
                hint="obench doctor --load loads it with the run's options "
                "(as long as a cold start takes)",
            )
        )
    if placement is not None and placement.loaded:
        found += placement_findings(name, placement)
        ctx, option = placement.context_length, info.options.get("num_ctx", settings.num_ctx)
        sent = option if isinstance(option, int) else settings.num_ctx
        if "vision" in info.capabilities:
            sent = max(sent, 2048)  # Ollama's scheduler raises vision models to 2048 (ref. §3)
        if ctx and ctx != sent:
            found.append(
                Finding(
                    level="note",
                    code="reload-ahead",
                    target=name,
                    message=f"{name} has the model loaded with context {ctx}; a run sends "
                    f"num_ctx {sent}, so its first request reloads it",
                    hint="the warm-up pays that load",
                )
            )
    return found


def consistency_findings(checks: Sequence[TargetCheck]) -> list[Finding]:
    """Targets that hold different builds of the model, or run different Ollama releases."""
    found: list[Finding] = []
    present = [c.info for c in checks if c.info.model_present and c.info.model_digest]
    digests = {i.model_digest for i in present}
    if len(digests) > 1:
        listed = ", ".join(f"{i.name} {(i.model_digest or '')[:12]}" for i in present)
        found.append(
            Finding(
                level="warning",
                code="different-models",
                target=None,
                message=f"the targets hold different builds of the model ({listed}): "
                "their speed and answers are not comparable",
                hint="pull the same tag everywhere: obench pull --force",
            )
        )
    ollama = [c for c in checks if c.info.version and c.info.api == "ollama"]
    versions = {c.info.version for c in ollama}
    if len(versions) > 1:
        listed = ", ".join(f"{c.info.name} {c.info.version}" for c in ollama)
        found.append(
            Finding(
                level="note",
                code="different-versions",
                target=None,
                message=f"the targets run different Ollama releases ({listed})",
            )
        )
    return found


def diagnose(
    checks: Sequence[TargetCheck], specs: Sequence[TargetSpec], settings: RequestSettings
) -> Diagnosis:
    findings = [f for check in checks for f in target_findings(check, settings)]
    findings = _merge_not_loaded(findings, settings.model)
    findings += duplicate_findings(specs) + consistency_findings(checks)
    order = {"error": 0, "warning": 1, "note": 2}
    findings.sort(key=lambda f: order[f.level])
    return Diagnosis(
        model=settings.model, num_ctx=settings.num_ctx, targets=list(checks), findings=findings
    )


def _merge_not_loaded(findings: list[Finding], model: str) -> list[Finding]:
    """One note for every target whose model is not loaded, instead of one each."""
    idle = [f for f in findings if f.code == "not-loaded"]
    if len(idle) < 2:
        return findings
    names = ", ".join(f.target or "" for f in idle)
    merged = idle[0].model_copy(
        update={
            "target": None,
            "message": f"{model} is not loaded on {names}, so where it will run is unknown",
        }
    )
    return [f for f in findings if f.code != "not-loaded"] + [merged]


async def examine(
    specs: Sequence[TargetSpec],
    settings: RequestSettings,
    *,
    load: bool = False,
    on_loading: Callable[[TargetSpec], None] = lambda spec: None,
) -> list[TargetCheck]:
    """Probe every target at once; then, one target at a time, load (if asked) and read
    `/api/ps` — one at a time so that two targets on one server each see their own load.
    An OpenAI-compatible server loads its model when it starts: there is nothing to load."""
    targets = [open_target(spec, settings) for spec in specs]
    try:
        infos = await asyncio.gather(*(t.probe() for t in targets))
        checks = [TargetCheck(info=info) for info in infos]
        for target, check in zip(targets, checks, strict=True):
            if not check.info.reachable:
                continue
            version_ok = not (
                mllama_version_warning(check.info.version or "")
                and needs_mllama(settings.model, check.info.model_family)
            )
            loadable = check.info.model_present and version_ok
            if load and loadable and isinstance(target, OllamaTarget):
                on_loading(target.spec)
                try:
                    await target.load()
                    check.loaded_by_doctor = True
                except TargetFailure as exc:
                    check.load_error = str(exc)
            try:
                check.placement = await target.placement()
            except TargetFailure as exc:
                check.placement_error = str(exc)
        return checks
    finally:
        for target in targets:
            await target.__aexit__(None, None, None)


async def run(
    specs: Sequence[TargetSpec],
    settings: RequestSettings,
    *,
    load: bool = False,
    on_loading: Callable[[TargetSpec], None] = lambda spec: None,
) -> Diagnosis:
    """`obench doctor`: examine every target, then diagnose."""
    checks = await examine(specs, settings, load=load, on_loading=on_loading)
    return diagnose(checks, specs, settings)
