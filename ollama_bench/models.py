"""Records shared by every layer: what was asked, what came back, how long it took.

These are the lines of a run file (see store.py), so field names are a public contract: durations
carry their unit (`_ns` integers as Ollama reports them, `_s` floats in summaries) and rates end
in `_per_s`. No I/O here.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, computed_field, field_validator

from ollama_bench.untrusted import clip, storable

#: A request whose server-reported load took at least this long paid a model load. A warm
#: request's `load_duration` is a few milliseconds; loading llama3.2-vision takes seconds.
COLD_LOAD_THRESHOLD_NS = 100_000_000
#: A server duration may exceed the client's latency by this much (fixed plus relative) before
#: it counts as impossible: the server's clock covers a subset of the client's, but the two clocks
#: are read at slightly different moments and may run at slightly different rates.
CLOCK_SLACK_NS = 10_000_000
CLOCK_SLACK = 0.02
#: A server's error text is kept up to this length: a megabyte of it per sample helps no one.
MAX_ERROR_CHARS = 2000

Phase = Literal["warmup", "measured"]
Api = Literal["ollama", "openai", "ocr"]  # ocr: the in-process OCR baseline (targets/ocr.py)
ResponseFormat = Literal["json_schema", "json_object"]


class TargetSpec(BaseModel):
    """One server to measure, as given on the command line.

    `url` is what is printed and stored: credentials given in it show as `user:***@`, and a user
    given alone (`https://TOKEN@host`, usually a token) as `***@`. The secrets themselves (the
    URL's password or lone user, --header values) are excluded from every dump and repr;
    targets/auth.py turns them into the headers of each call.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    url: str
    # Ollama: request options; OpenAI-compatible: extra top-level request fields; ocr: threads
    options: dict[str, Any] = Field(default_factory=dict)
    api: Api = "ollama"  # which API the server speaks (reserved key `api=`; `NAME=ocr`: ocr)
    images: bool = True  # False: the prompt is sent without the image (reserved key `images=`)
    password: SecretStr | None = Field(default=None, exclude=True, repr=False)
    lone_user: SecretStr | None = Field(default=None, exclude=True, repr=False)  # as in the URL
    headers: dict[str, SecretStr] = Field(default_factory=dict, exclude=True, repr=False)

    @property
    def endpoint(self) -> str:
        """The URL to connect to: `url` without its user and masked password."""
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=host))

    @property
    def username(self) -> str | None:
        """The URL's user as written (percent-encoded), for Basic auth: a lone one included."""
        if self.lone_user is not None:
            return self.lone_user.get_secret_value()
        return urlsplit(self.url).username


class RequestSettings(BaseModel):
    """What every request of a run sends, besides the prompt and the image."""

    model: str
    temperature: float = 0.0
    seed: int = 42
    num_ctx: int = 4096
    num_predict: int = 1024
    keep_alive: str = "30m"
    timeout_s: float = 600.0
    structured: bool = True  # send the reply schema as Ollama's `format`
    max_image_side_px: int | None = None  # larger images are sent as a copy downsized to this


class TargetInfo(BaseModel):
    """What the probe before a run found out about a target."""

    name: str
    url: str
    options: dict[str, Any] = Field(default_factory=dict)
    api: Api = "ollama"
    images: bool = True  # False: this target was sent the prompts without their images
    sent_headers: list[str] = Field(default_factory=list)  # --header names; values never kept
    reachable: bool = False
    version: str | None = None
    model_present: bool = False
    model_missing: bool = False  # reached, and the model is not among those it has (see error)
    model_digest: str | None = None
    model_size_bytes: int | None = None
    model_family: str | None = None  # details.family from /api/tags, e.g. "mllama"
    quantization: str | None = None  # details.quantization_level, e.g. "Q4_K_M"
    parameter_size: str | None = None  # details.parameter_size, e.g. "10.7B"
    capabilities: list[str] = Field(default_factory=list)
    server: str | None = None  # OpenAI-compatible: "llama.cpp" when /props answers, else None
    context_length: int | None = None  # OpenAI-compatible: the server's context (llama.cpp n_ctx)
    # OpenAI-compatible: the response_format form the server accepted when the probe tried it
    response_format: ResponseFormat | None = None
    # /api/ps at probe time: where the model already sits, or loaded=False when it is not
    # resident yet (the footer then has the readings taken after the warm-up and at the end)
    placement: Placement | None = None
    error: str | None = None  # why the target cannot be used; None when it can
    warnings: list[str] = Field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.error is None


class ServerTimings(BaseModel):
    """The server's own account of a request; None where the server does not report a figure.

    Ollama: the final `done: true` chunk. OpenAI-compatible servers: token counts from `usage`,
    durations from llama.cpp's `timings` (prompt_ms, predicted_ms) where the server sends them;
    no such server reports a total or a load duration, so those stay None, never zero.
    """

    total_duration_ns: int | None = None
    load_duration_ns: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration_ns: int | None = None
    eval_count: int | None = None
    eval_duration_ns: int | None = None
    done_reason: str | None = None  # Ollama's done_reason, or OpenAI's finish_reason (same words)

    def contradictions(self, latency_ns: int) -> list[str]:
        """Why these figures cannot be true of a request the client saw take `latency_ns`.

        Ollama's durations nest: load, prompt eval and eval are disjoint parts of
        `total_duration`, which lies within the client's latency. A negative value, a duration
        longer than the request, or parts that add up to more than the whole are a lying or
        broken server (or a clock jump), and no rate computed from them means anything.
        """
        durations = {
            "total_duration": self.total_duration_ns,
            "load_duration": self.load_duration_ns,
            "prompt_eval_duration": self.prompt_eval_duration_ns,
            "eval_duration": self.eval_duration_ns,
        }
        counts = {"prompt_eval_count": self.prompt_eval_count, "eval_count": self.eval_count}
        found = [
            f"negative {name} ({value})"
            for name, value in (durations | counts).items()
            if value is not None and value < 0
        ]
        slack = CLOCK_SLACK_NS + CLOCK_SLACK * latency_ns
        found += [
            f"{name} {value / 1e9:.3g} s is above the client's latency of {latency_ns / 1e9:.3g} s"
            for name, value in durations.items()
            if value is not None and value > latency_ns + slack
        ]
        total = self.total_duration_ns
        parts = [durations[k] for k in ("load_duration", "prompt_eval_duration", "eval_duration")]
        summed = sum(v for v in parts if v is not None and v > 0)
        if total is not None and total >= 0 and summed > total + CLOCK_SLACK_NS:
            found.append(
                f"load, prompt and eval durations add up to more than total_duration "
                f"({summed / 1e9:.3g} s > {total / 1e9:.3g} s)"
            )
        return found


def _rate_per_s(count: int | None, duration_ns: int | None) -> float | None:
    if not count or not duration_ns:
        return None
    return count / duration_ns * 1e9


class Timing(BaseModel):
    """Client clocks (`perf_counter_ns`) around one request, and the server's own account."""

    latency_ns: int  # send → the final chunk (the whole reply)
    ttft_ns: int | None = None  # send → first chunk with non-empty content
    server: ServerTimings | None = None  # None when the stream ended without a final chunk
    # Client arrival of each chunk with content, delta-encoded in whole µs: [send → first
    # chunk, then each gap to the next]; element 0 is TTFT, the rest are the inter-token gaps
    # (ITL, see itl.py). None in runs recorded before it existed.
    chunk_gaps_us: list[int] | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def suspicious(self) -> list[str]:
        """Why the server's figures cannot be true; when any, no rate, gap or load is derived
        from them (the client's latency and TTFT still stand)."""
        return self.server.contradictions(self.latency_ns) if self.server else []

    def _trusted(self) -> ServerTimings | None:
        return None if self.suspicious else self.server

    @computed_field  # type: ignore[prop-decorator]
    @property
    def prompt_tokens_per_s(self) -> float | None:
        s = self._trusted()
        return _rate_per_s(s.prompt_eval_count, s.prompt_eval_duration_ns) if s else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def decode_tokens_per_s(self) -> float | None:
        s = self._trusted()
        return _rate_per_s(s.eval_count, s.eval_duration_ns) if s else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gap_ns(self) -> int | None:
        """Client latency not covered by the server's total: network, HTTP and client parsing."""
        s = self._trusted()
        return self.latency_ns - s.total_duration_ns if s and s.total_duration_ns else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cold(self) -> bool:
        s = self._trusted()
        return bool(s and (s.load_duration_ns or 0) >= COLD_LOAD_THRESHOLD_NS)


class RequestError(BaseModel):
    """Why a request produced no complete reply. `kind` is stable, `message` is for people."""

    # connect, timeout, http_<status>, stream_error, truncated, reset, protocol; skipped: not
    # sent, the target was given up on (vision/health.py)
    kind: str
    message: str

    @field_validator("message")
    @classmethod
    def _clipped(cls, message: str) -> str:
        """Clipped and storable wherever the error is made: the text is mostly a server's."""
        return storable(clip(message, MAX_ERROR_CHARS))


class FieldError(BaseModel):
    path: str  # dotted path into the reply, "" for the whole object
    message: str


class Validation(BaseModel):
    """How the reply's JSON was found and whether it fits the scenario's schema."""

    extraction: Literal["clean", "fenced", "embedded", "none"]
    valid: bool
    errors: list[FieldError] = Field(default_factory=list)


class TextBox(BaseModel):
    """One line of text an OCR engine found: its corners, what it read, how sure it is."""

    points: list[tuple[float, float]]  # px, clockwise from the top-left corner
    text: str
    confidence: float  # the recogniser's score, 0–1


class Sample(BaseModel):
    """One request: one image sent to one target, with its timing, reply, validity and score."""

    kind: Literal["sample"] = "sample"
    seq: int
    target: str
    image: str
    image_sha256: str
    phase: Phase
    repeat: int  # 0-based index within its phase, per target and image: the round when measured
    segment: int = 0  # 0 for the run as started, n for its n-th resumption (--resume)
    started_at: datetime
    ok: bool
    error: RequestError | None = None
    timing: Timing
    reply: str = ""
    validation: Validation | None = None
    score: dict[str, float] | None = None  # field → [0, 1] and "overall"; None without a label
    # fields this target does not answer by design (the OCR baseline: traffic_level); they are
    # neither validated nor scored, and "overall" is the mean of the others
    unanswered: list[str] = Field(default_factory=list)
    text_boxes: list[TextBox] | None = None  # what an OCR target read, before mapping to fields


class Placement(BaseModel):
    """Where a loaded model sits, from `/api/ps`, classified exactly as `ollama ps` does it.

    `size_vram == size` is all GPU, `0` all CPU, in between a split, above `size` unknown.
    """

    loaded: bool  # False: the model is not resident, so where it would run is unknown
    size_bytes: int | None = None  # what the loaded model occupies in all
    size_vram_bytes: int | None = None  # of which in GPU memory
    context_length: int | None = None

    @classmethod
    def of(
        cls, size_bytes: int, size_vram_bytes: int, context_length: int | None = None
    ) -> Placement:
        return cls(
            loaded=True,
            size_bytes=size_bytes,
            size_vram_bytes=size_vram_bytes,
            context_length=context_length,
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def processor(self) -> Literal["gpu", "cpu", "split", "unknown"]:
        size, vram = self.size_bytes or 0, self.size_vram_bytes
        if not self.loaded or vram is None:
            return "unknown"
        if vram == 0:
            return "cpu"
        if vram == size:
            return "gpu"
        if vram > size or size == 0:
            return "unknown"
        return "split"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gpu_pct(self) -> int | None:
        """Share of the model in GPU memory, rounded as `ollama ps` rounds its CPU share."""
        kind = self.processor
        if kind in ("gpu", "cpu"):
            return 100 if kind == "gpu" else 0
        if kind == "unknown" or not self.size_bytes:
            return None
        cpu_share = (self.size_bytes - (self.size_vram_bytes or 0)) / self.size_bytes * 100
        return 100 - math.floor(cpu_share + 0.5)  # Go's math.Round: halves away from zero

    @property
    def label(self) -> str:
        """`100% GPU`, `100% CPU`, `48%/52% CPU/GPU` (as `ollama ps` prints), or why unknown."""
        kind, gpu = self.processor, self.gpu_pct
        if not self.loaded:
            return "not loaded"
        if kind == "split" and gpu is not None:
            return f"{100 - gpu}%/{gpu}% CPU/GPU"
        return {"gpu": "100% GPU", "cpu": "100% CPU"}.get(kind, "unknown")


class PlacementReading(BaseModel):
    """One `/api/ps` reading for a target during a run (see bench.py for when and why)."""

    target: str
    after: Literal["warmup", "run"]  # read after the warm-up requests, or at the end of the run
    at: datetime
    placement: Placement
    error: str | None = None  # /api/ps could not be read; placement is then "not loaded"


class GpuReading(BaseModel):
    """One NVIDIA GPU at one instant, as `nvidia-smi --query-gpu` reports it."""

    index: int
    utilisation_pct: float | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    power_w: float | None = None  # power.draw: board power (recent drivers: a 1 s average)


class RaplReading(BaseModel):
    """One RAPL package zone's energy counter, as /sys/class/powercap gives it (µJ, wraps)."""

    zone: str  # directory, e.g. "intel-rapl:0"
    name: str  # its `name` file, e.g. "package-0"
    energy_uj: int  # cumulative since an arbitrary start; back to 0 after max_energy_range_uj
    max_energy_range_uj: int


class UtilisationSample(BaseModel):
    """A run file line: a container's CPU and memory (docker), the host's GPUs (nvidia), or the
    host's CPU package energy counters (rapl)."""

    kind: Literal["utilisation"] = "utilisation"
    source: Literal["docker", "nvidia", "rapl"]
    at: datetime
    container: str | None = None  # docker: the container's name
    cpu_pct: float | None = None  # as `docker stats` shows it: 100 = one core busy
    memory_bytes: int | None = None  # usage less inactive file pages, as `docker stats` shows it
    memory_limit_bytes: int | None = None
    gpus: list[GpuReading] = Field(default_factory=list)
    rapl: list[RaplReading] = Field(default_factory=list)
    error: str | None = None  # sampling from this source stopped here, and why


class Monitoring(BaseModel):
    """What utilisation sampling found before a run: which container serves which target."""

    enabled: bool = True
    interval_s: float = 1.0
    containers: dict[str, str] = Field(default_factory=dict)  # target name → container name
    docker_note: str | None = None  # why some or all targets' containers are not sampled
    nvidia_note: str | None = None  # why GPUs are not sampled; None when they are
    # why CPU package energy (RAPL) is not sampled; None when it is
    rapl_note: str | None = "not looked for (run recorded before RAPL sampling existed)"


class ImageInfo(BaseModel):
    """An image of the run: its file, and the downsized copy sent instead when there was one."""

    name: str
    sha256: str  # of the file
    size_bytes: int
    format: str | None = None  # as Pillow names it: JPEG, PNG...
    width_px: int | None = None
    height_px: int | None = None
    sent_sha256: str | None = None  # None: the file itself was sent (see max_image_side_px)
    sent_size_bytes: int | None = None
    sent_width_px: int | None = None
    sent_height_px: int | None = None
    side_px: int | None = None  # image-size sweep: the longest side of this copy (sent_*)
    source: str | None = None  # image-size sweep: the image (file) it was resized from


class StopSettings(BaseModel):
    """When a run stops adding rounds: after `runs` (the header's), or once precise enough."""

    until_ci_pct: float | None = None  # stop once every latency speed-up's 95% CI is within ±this
    max_runs: int = 20  # the most rounds a run with until_ci_pct may take


class RunSource(BaseModel):
    """Where the scenario and images were read from, so that --resume can read them again."""

    scenario: str  # a built-in scenario's name, or the absolute path of a scenario file
    images: str | None = None  # absolute path of --images, None for the scenario's own


class ScenarioHeader(BaseModel):
    """What every run of a scenario against servers records first (vision and load alike):
    enough to reproduce it and to trust its numbers."""

    kind: Literal["header"] = "header"
    format_version: int = 1
    tool_version: str
    run_id: str
    started_at: datetime
    scenario: str
    prompt_sha256: str
    schema_sent: dict[str, Any] | None
    settings: RequestSettings
    warmup: int  # requests per target before the measured ones, left out of statistics
    targets: list[TargetInfo]
    images: list[ImageInfo]
    host: dict[str, Any]
    labels: dict[str, Any] = Field(default_factory=dict)  # image name → expected reply
    monitoring: Monitoring | None = None  # None: utilisation was not sampled (or older file)


class RunHeader(ScenarioHeader):
    """First line of a vision run file."""

    runs: int
    image_sizes: list[int] | None = None  # --image-sizes: longest sides swept; None: no sweep
    stop: StopSettings = Field(default_factory=StopSettings)
    source: RunSource | None = None  # None in files written before --resume existed


StopReason = Literal["runs", "precision", "max-runs"]


class StopOutcome(BaseModel):
    """Why the measured rounds ended (an interrupted run has none)."""

    reason: StopReason  # --runs done; --until-ci precision reached; --max-runs reached first
    rounds: int  # complete rounds of measured requests (every image on every target)
    half_width_pct: float | None = None  # widest latency speed-up CI half-width then, in %


class Segment(BaseModel):
    """A run file line written where a resumed run (--resume) starts appending."""

    kind: Literal["segment"] = "segment"
    index: int  # 1 for the first resumption
    started_at: datetime
    samples_before: int  # samples the file held when it was resumed
    targets: list[TargetInfo]  # the probe at resumption: same model digests as the header's


class RunFooter(BaseModel):
    kind: Literal["footer"] = "footer"
    finished_at: datetime
    samples: int  # in the whole file, every segment included
    interrupted: bool
    elapsed_s: float  # of this segment
    placements: list[PlacementReading] = Field(default_factory=list)
    stop: StopOutcome | None = None  # None when interrupted
    segment: int = 0
