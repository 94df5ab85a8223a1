"""The stop rule for dead targets: after a few connect failures or timeouts in a row, stop sending.

A server that was killed refuses connections in microseconds, one that hangs costs a whole
`--timeout` per request: either way every further request to it is wasted, or hours lost. The
runner asks `refusal()` before each step; a refused step is recorded as a failed sample of kind
`skipped`, so counts stay honest (sent + skipped = planned), and the other targets go on. Any
other outcome (a reply, an HTTP error, a cut stream) shows the server alive and resets the count.
"""

from __future__ import annotations

from collections.abc import Callable

from ollama_bench.models import RequestError

#: Failures that say nothing is answering at that address.
DEAD_KINDS = frozenset({"connect", "timeout"})
DEFAULT_GIVE_UP_AFTER = 3


class TargetHealth:
    """Consecutive connect failures and timeouts per target; `limit` 0 never gives up."""

    def __init__(
        self,
        limit: int = DEFAULT_GIVE_UP_AFTER,
        on_give_up: Callable[[str, str], None] = lambda target, reason: None,
    ) -> None:
        self.limit = limit
        self.on_give_up = on_give_up  # told once per target, with why
        self._streak: dict[str, list[str]] = {}
        self._given_up: dict[str, str] = {}

    def record(self, target: str, error: RequestError | None) -> None:
        """The outcome of a request that was sent."""
        if error is None or error.kind not in DEAD_KINDS:
            self._streak.pop(target, None)
            return
        streak = self._streak.setdefault(target, [])
        streak.append(error.kind)
        if self.limit and len(streak) >= self.limit and target not in self._given_up:
            kinds = sorted(set(streak))
            what = " or ".join("timeouts" if k == "timeout" else "connect failures" for k in kinds)
            reason = f"{len(streak)} {what} in a row"
            self._given_up[target] = reason
            self.on_give_up(target, reason)

    def given_up(self, target: str) -> bool:
        return target in self._given_up

    def refusal(self, target: str) -> RequestError | None:
        """The error to record instead of sending to `target`, or None to send."""
        reason = self._given_up.get(target)
        if reason is None:
            return None
        return RequestError(
            kind="skipped", message=f"not sent: {target} was given up after {reason}"
        )
