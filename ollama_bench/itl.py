"""Inter-token latency (ITL) and stalls, from the client's chunk arrival times (no I/O).

ITL is defined as vLLM defines it (AIPerf calls it inter-chunk latency): every gap between two
consecutive streamed chunks with content, pooled over a group's completed requests, with
percentiles over that pool. The wait before the first chunk is TTFT, not an ITL. A chunk may
carry several tokens (Ollama streams one token a chunk; OpenAI-compatible servers may batch), so
a chunk gap is a token gap only where the server sends one token a chunk. A stall is a gap
longer than `STALL_FACTOR` × the pool's median gap: the stream stopped while decoding. When the
median gap is 0 µs (chunks read in bursts, as from a server that batches its writes) no gap is
typical, so stalls are not counted (None), rather than every gap being called one.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from ollama_bench.models import Timing
from ollama_bench.stats import percentiles

US_PER_S = 1e6
STALL_FACTOR = 10.0


class ItlSummary(BaseModel):
    """Gaps between consecutive content chunks, pooled over a group's requests (seconds)."""

    gaps: int  # inter-chunk gaps pooled (chunks − 1 per request)
    requests: int  # requests that contributed at least one gap
    p50_s: float
    p90_s: float
    p99_s: float
    max_s: float
    stall_threshold_s: float | None  # STALL_FACTOR × the median gap; None when that is 0
    stalls: int | None  # gaps above the threshold
    stalled_requests: int | None  # requests with at least one stall


def inter_chunk_gaps_us(timing: Timing) -> list[int]:
    """The gaps after the first chunk (the first entry is TTFT); [] when none were recorded."""
    return list(timing.chunk_gaps_us[1:]) if timing.chunk_gaps_us else []


def summarise_itl(timings: Sequence[Timing]) -> ItlSummary | None:
    """Pooled ITL percentiles and stalls; None when no request streamed two chunks.

    >>> t = [Timing(latency_ns=1, chunk_gaps_us=[900, 10, 10, 10, 500])]
    >>> s = summarise_itl(t)
    >>> (s.gaps, s.p50_s, s.stalls, s.stall_threshold_s)
    (4, 1e-05, 1, 0.0001)
    """
    per_request = [gaps for t in timings if (gaps := inter_chunk_gaps_us(t))]
    pooled = [gap for gaps in per_request for gap in gaps]
    if not pooled:
        return None
    p50, p90, p99, most = percentiles(pooled, [50, 90, 99, 100])  # p50: the median
    threshold_us = STALL_FACTOR * p50
    stalls = [sum(gap > threshold_us for gap in gaps) for gaps in per_request]
    counted = threshold_us > 0
    return ItlSummary(
        gaps=len(pooled),
        requests=len(per_request),
        p50_s=p50 / US_PER_S,
        p90_s=p90 / US_PER_S,
        p99_s=p99 / US_PER_S,
        max_s=most / US_PER_S,
        stall_threshold_s=threshold_us / US_PER_S if counted else None,
        stalls=sum(stalls) if counted else None,
        stalled_requests=sum(n > 0 for n in stalls) if counted else None,
    )
