"""Energy per request: GPU board power and CPU package energy, integrated over measured requests.

Two sources, sampled with the utilisation readings (ops/utilisation.py), about once a second:
- GPU: `nvidia-smi --query-gpu=power.draw`, summed over every GPU it lists, in watts. Power is
  taken to change linearly between readings and integrated exactly over each window.
- CPU: Linux RAPL package counters, `/sys/class/powercap/intel-rapl:N/energy_uj` (µJ since an
  arbitrary start, back to 0 after `max_energy_range_uj`), summed over the package zones. The
  counter is unwrapped, then read between readings by linear interpolation (constant power
  within one interval). It measures the whole package: every process on the CPU, obench too.
A target's energy is the integral over the union of its measured requests' windows (overlapping
requests under load count once), divided by its completed requests and their output tokens.
Where neither source can be read (a remote server, a VM, no root for RAPL) the report says why;
no figure is ever estimated.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, computed_field

from ollama_bench.models import Monitoring, RaplReading, UtilisationSample

POWERCAP_ROOT = Path("/sys/class/powercap")
#: Energy is reported only when readings span at least this share of the requests' time.
MIN_COVERAGE = 0.9
_PACKAGE_ZONE = re.compile(r"intel-rapl:\d+")  # top level; intel-rapl:0:0 (cores) is inside it

Window = tuple[float, float]  # (start, end), seconds since the epoch


# -- RAPL through sysfs ------------------------------------------------------------------------


def package_zones(root: Path) -> list[Path]:
    """The top-level RAPL zones whose name is `package-N` (AMD's RAPL driver uses the same
    names); `psys` is left out, as it already contains the packages."""
    zones = sorted(p for p in root.glob("intel-rapl:*") if _PACKAGE_ZONE.fullmatch(p.name))
    found = []
    for zone in zones:
        try:
            if (zone / "name").read_text().strip().startswith("package"):
                found.append(zone)
        except OSError:
            continue
    return found


def read_rapl(zones: Sequence[Path]) -> list[RaplReading]:
    """One reading of each zone's counter; raises OSError (e.g. PermissionError) or ValueError."""
    return [
        RaplReading(
            zone=zone.name,
            name=(zone / "name").read_text().strip(),
            energy_uj=int((zone / "energy_uj").read_text()),
            max_energy_range_uj=int((zone / "max_energy_range_uj").read_text()),
        )
        for zone in zones
    ]


def plan_rapl(root: Path) -> tuple[list[Path], str | None]:
    """The package zones to sample, or why there are none."""
    if not root.is_dir():
        return [], f"{root} does not exist (a VM, a container without it, or no RAPL on this CPU)"
    zones = package_zones(root)
    if not zones:
        return [], f"no RAPL package zone under {root}"
    try:
        read_rapl(zones)
    except PermissionError:
        return [], (
            f"{zones[0] / 'energy_uj'} is readable by root only (Linux 5.10 and later); "
            "run as root or make it readable"
        )
    except (OSError, ValueError) as exc:
        return [], f"cannot read {zones[0] / 'energy_uj'} ({exc})"
    return zones, None


# -- integration (pure) ------------------------------------------------------------------------


def unwrap_uj(counts: Sequence[int], max_range_uj: int) -> list[int]:
    """Energy since the first reading, µJ, with the counter's wrap-arounds undone.

    A reading below the one before means the counter passed `max_range_uj` and restarted at 0.
    Readings a second apart cannot wrap twice: ranges are 2^32 µJ (4.3 kJ) or more.

    >>> unwrap_uj([900, 950, 20, 70], max_range_uj=1000)
    [0, 50, 120, 170]
    """
    total = [0]
    for before, now in itertools.pairwise(counts):
        total.append(total[-1] + (now - before if now >= before else max_range_uj - before + now))
    return total


def merge_windows(windows: Sequence[Window]) -> list[Window]:
    """The union of possibly overlapping windows, as disjoint sorted ones.

    >>> merge_windows([(5, 6), (0, 2), (1, 3)])
    [(0, 3), (5, 6)]
    """
    merged: list[Window] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _interpolate(times: Sequence[float], values: Sequence[float], at: float, i: int) -> float:
    """Value at `at` on the segment times[i] → times[i + 1]."""
    span = times[i + 1] - times[i]
    share = (at - times[i]) / span if span > 0 else 0.0
    return values[i] + (values[i + 1] - values[i]) * share


def integrate_power(
    times_s: Sequence[float], watts: Sequence[float], window: Window
) -> tuple[float, float]:
    """(joules, seconds covered): ∫ power over the window, power linear between readings; the
    parts of the window outside the readings' span are not covered and add nothing.

    >>> integrate_power([0, 10], [100, 200], (0, 10))  # the mean, 150 W, for 10 s
    (1500.0, 10.0)
    >>> integrate_power([0, 10], [100, 200], (5, 20))  # 175 W for the 5 s covered
    (875.0, 5.0)
    """
    start, end = window
    joules = covered = 0.0
    first = max(bisect.bisect_right(times_s, start) - 1, 0)
    for i in range(first, len(times_s) - 1):
        lo, hi = max(start, times_s[i]), min(end, times_s[i + 1])
        if times_s[i] >= end:
            break
        if hi <= lo:
            continue
        p_lo, p_hi = _interpolate(times_s, watts, lo, i), _interpolate(times_s, watts, hi, i)
        joules += (p_lo + p_hi) / 2 * (hi - lo)
        covered += hi - lo
    return joules, covered


def integrate_counter(
    times_s: Sequence[float], cumulative_j: Sequence[float], window: Window
) -> tuple[float, float]:
    """(joules, seconds covered) from an unwrapped energy counter, read at the window's ends by
    linear interpolation (constant power between two readings).

    >>> integrate_counter([0, 10, 20], [0, 1000, 3000], (5, 15))  # 100 W, then 200 W
    (1500.0, 10.0)
    """
    if len(times_s) < 2:
        return 0.0, 0.0
    start, end = float(max(window[0], times_s[0])), float(min(window[1], times_s[-1]))
    if end <= start:
        return 0.0, 0.0

    def at(t: float) -> float:
        i = min(max(bisect.bisect_right(times_s, t) - 1, 0), len(times_s) - 2)
        return _interpolate(times_s, cumulative_j, t, i)

    return at(end) - at(start), end - start


# -- from run-file readings to a target's energy ------------------------------------------------


def gpu_power_trace(readings: Sequence[UtilisationSample]) -> tuple[list[float], list[float]]:
    """(times, watts summed over the GPUs); a reading where any GPU lacks power is skipped."""
    times, watts = [], []
    for r in sorted((r for r in readings if r.source == "nvidia" and r.gpus), key=lambda r: r.at):
        powers = [g.power_w for g in r.gpus]
        if all(p is not None for p in powers):
            times.append(r.at.timestamp())
            watts.append(sum(p for p in powers if p is not None))
    return times, watts


def rapl_energy_trace(readings: Sequence[UtilisationSample]) -> tuple[list[float], list[float]]:
    """(times, joules since the first reading, summed over the package zones)."""
    rows = sorted((r for r in readings if r.source == "rapl" and r.rapl), key=lambda r: r.at)
    zones = sorted({z.zone for r in rows for z in r.rapl})
    rows = [r for r in rows if sorted(z.zone for z in r.rapl) == zones]  # every zone, every row
    if len(rows) < 2:
        return [], []
    total = [0.0] * len(rows)
    for zone in zones:
        series = [next(z for z in r.rapl if z.zone == zone) for r in rows]
        unwrapped = unwrap_uj([z.energy_uj for z in series], series[0].max_energy_range_uj)
        total = [t + uj / 1e6 for t, uj in zip(total, unwrapped, strict=True)]
    return [r.at.timestamp() for r in rows], total


class EnergySummary(BaseModel):
    """Energy over the time a target served measured requests (joules)."""

    requests: int  # completed measured requests
    output_tokens: int | None  # their eval_count, summed; None when no server reported it
    busy_s: float  # the union of the measured requests' windows, failed ones included
    gpu_j: float | None = None  # every GPU nvidia-smi lists; None when not sampled
    cpu_package_j: float | None = None  # RAPL package zones; None when not sampled
    coverage: float  # lowest share of busy_s that a sampled source's readings span
    note: str | None = None  # why no figure is given, when coverage is too low

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sources(self) -> list[str]:
        return [
            n
            for n, v in (("GPU", self.gpu_j), ("CPU package", self.cpu_package_j))
            if v is not None
        ]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def joules(self) -> float | None:
        """GPU and CPU package energy together: what was measured of the box's draw."""
        parts = [v for v in (self.gpu_j, self.cpu_package_j) if v is not None]
        return sum(parts) if parts and self.note is None else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def joules_per_request(self) -> float | None:
        return self.joules / self.requests if self.joules is not None and self.requests else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def joules_per_output_token(self) -> float | None:
        tokens = self.output_tokens
        return self.joules / tokens if self.joules is not None and tokens else None


def summarise_energy(
    windows: Sequence[Window],
    requests: int,
    output_tokens: int | None,
    readings: Sequence[UtilisationSample],
) -> EnergySummary | None:
    """Energy over the union of `windows`; None when no power source was sampled."""
    merged = merge_windows(windows)
    busy_s = sum(end - start for start, end in merged)
    gpu_t, gpu_w = gpu_power_trace(readings)
    cpu_t, cpu_j = rapl_energy_trace(readings)
    if len(gpu_t) < 2 and len(cpu_t) < 2:
        return None
    found: dict[str, tuple[float, float]] = {}
    if len(gpu_t) >= 2:
        parts = [integrate_power(gpu_t, gpu_w, w) for w in merged]
        found["gpu"] = (sum(j for j, _ in parts), sum(c for _, c in parts))
    if len(cpu_t) >= 2:
        parts = [integrate_counter(cpu_t, cpu_j, w) for w in merged]
        found["cpu"] = (sum(j for j, _ in parts), sum(c for _, c in parts))
    coverage = min(c for _, c in found.values()) / busy_s if busy_s > 0 else 0.0
    note = None
    if coverage < MIN_COVERAGE:
        note = (
            f"power readings span only {coverage:.0%} of the requests' time "
            f"(at least {MIN_COVERAGE:.0%} is needed)"
        )
    return EnergySummary(
        requests=requests,
        output_tokens=output_tokens,
        busy_s=busy_s,
        gpu_j=found["gpu"][0] if "gpu" in found else None,
        cpu_package_j=found["cpu"][0] if "cpu" in found else None,
        coverage=coverage,
        note=note,
    )


def energy_note(monitoring: Monitoring | None) -> str | None:
    """Why no energy figure can be given for this run, or None when a source was sampled."""
    if monitoring is None:
        return "energy: not measured (sampling was off: --no-monitor)"
    if monitoring.nvidia_note and monitoring.rapl_note:
        return (
            "energy: not measurable here: GPU power: "
            f"{monitoring.nvidia_note}; CPU package energy (RAPL): {monitoring.rapl_note}"
        )
    return None
