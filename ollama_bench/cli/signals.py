"""SIGTERM and SIGHUP end a run the way Ctrl-C does: the footer is written, the partial summary
shown, every finished request kept. `timeout`, `docker stop`, a cancelled CI job and a closed
terminal send these, not SIGINT.

The handler does exactly what Ctrl-C would do at that moment: it calls SIGINT's current handler
(asyncio's, which cancels the running benchmark cleanly, or Python's, which raises
KeyboardInterrupt). Where SIGINT is ignored (`cmd &` in a script) it raises KeyboardInterrupt
itself. The exit code is 128 + the signal's number, as shells report it: 130, 143, 129.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

#: Signals that mean "stop now" besides SIGINT (SIGHUP does not exist on Windows).
STOP_SIGNALS = tuple(
    s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s
)


@dataclass
class Stop:
    """Which signal ended the run; SIGINT (Ctrl-C) unless another one was caught."""

    signum: int = signal.SIGINT

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextmanager
def stops_like_ctrl_c() -> Iterator[Stop]:
    """While inside, SIGTERM and SIGHUP interrupt like Ctrl-C; the Stop says which came."""
    stop = Stop()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.signum = signum
        ctrl_c = signal.getsignal(signal.SIGINT)
        if callable(ctrl_c):
            ctrl_c(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
