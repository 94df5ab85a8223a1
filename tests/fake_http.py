"""The server plumbing the protocol-faithful stand-ins (fake_ollama, fake_openai) share.

Each is a real HTTP/1.1 server on 127.0.0.1 that serves every connection in a thread of its own.
The server keeps those connections and threads in view so that stop() cuts off requests in
progress (even one told to hang) instead of waiting for them; the handler base turns Nagle off,
as Go's and llama.cpp's servers do (a reply written in small pieces is not held back), writes
HTTP chunks as they come and can end a connection with a TCP reset. Slots queue requests for a
model's few places the way the real servers do.
"""

from __future__ import annotations

import random
import re
import socket
import struct
import sys
import threading
import time
from collections import deque
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, cast

_TOKEN_RE = re.compile(r"\s*\S{1,4}|\s+")  # tokens concatenate back exactly to the reply


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (as the call returns): a dead server's URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tokens_of(reply: str) -> list[str]:
    """The tokens a stand-in generates for `reply`: its eval_count or completion_tokens."""
    return _TOKEN_RE.findall(reply)


class Stopped(Exception):
    """The server is stopping: abandon the request."""


class Slots:
    """A loaded model's slots, handed out first come, first served, as the runner's semaphore
    (Go's x/sync/semaphore.Weighted) does: a request never overtakes one queued before it."""

    def __init__(self, count: int) -> None:
        self._free = count
        self._queue: deque[object] = deque()
        self._changed = threading.Condition()

    def acquire(self, stopping: threading.Event) -> bool:
        """Wait for a slot, in turn; False (and no slot) when `stopping` is set first."""
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
            while not (self._free > 0 and self._queue[0] is ticket):
                if stopping.is_set():
                    self._queue.remove(ticket)
                    self._changed.notify_all()
                    return False
                self._changed.wait(0.05)
            self._queue.popleft()
            self._free -= 1
            self._changed.notify_all()  # the next in line may find a slot free too
            return True

    def release(self) -> None:
        with self._changed:
            self._free += 1
            self._changed.notify_all()


class Config(Protocol):
    """What the plumbing reads of a stand-in's config."""

    jitter: float  # relative, uniform, on every delay: 0.05 = ±5%
    seed: int  # seeds the jitter


ConfigT = TypeVar("ConfigT", bound=Config)


class FakeServer(Generic[ConfigT]):
    """A stand-in's life cycle (start, stop, context manager), its fault queue and its clock.

    Subclasses name their faults in `faults`. A handler error other than a client's hanging up
    is printed (to stderr, which pytest shows with a failure): a stand-in's own bug.
    """

    faults: ClassVar[tuple[str, ...]]

    def __init__(
        self, config: ConfigT, handler: type[BaseHTTPRequestHandler], *, port: int = 0
    ) -> None:
        self.config = config
        self.handler = handler  # a FakeHandler subclass
        self.port = port  # 0: an ephemeral port
        self._lock = threading.Lock()  # guards the subclass's state too
        self._faults: deque[str | None] = deque()
        self.connections_opened = 0  # TCP connections accepted since start, for reuse checks
        self._rng = random.Random(config.seed)
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._stopping.clear()
        self._httpd = _Server(self, self.port)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests in progress (even a "hang") are cut off, not waited for."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with httpd.lock:
            connections, handlers = list(httpd.connections), list(httpd.handlers)
        for conn in connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 2.0
        for thread in [*handlers, self._thread]:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _check_faults(self, faults: list[str | None]) -> None:
        for fault in faults:
            if fault is not None and fault not in self.faults:
                raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(self.faults)}")

    def inject(self, fault: str, count: int = 1) -> None:
        """Give the next `count` requests that would generate text this fault."""
        self._check_faults([fault])
        with self._lock:
            self._faults.extend([fault] * count)

    def _pop_fault(self) -> str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _jittered(self, seconds: float) -> float:
        with self._lock:
            return seconds * (1.0 + self.config.jitter * self._rng.uniform(-1.0, 1.0))

    def _wait_until(self, deadline: float) -> None:
        """Sleep until perf_counter() reaches `deadline`; raise Stopped if the server stops."""
        while (remaining := deadline - time.perf_counter()) > 0:
            if self._stopping.wait(remaining):
                break
        if self._stopping.is_set():
            raise Stopped

    def _acquire(self, slots: Slots) -> None:
        """Wait in turn for one of `slots`; raise Stopped if the server stops first."""
        if not slots.acquire(self._stopping):
            raise Stopped


FakeT = TypeVar("FakeT", bound=FakeServer[Any])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: FakeServer[Any], port: int) -> None:
        self.fake = fake
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self.handlers: set[threading.Thread] = set()
        super().__init__(("127.0.0.1", port), fake.handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up with data unread (e.g. after an error line) resets the
        # connection while the handler waits for its next request: normal, not worth a trace.
        if self.fake._stopping.is_set():
            return
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeHandler(BaseHTTPRequestHandler, Generic[FakeT]):
    """HTTP/1.1 keep-alive, Nagle off, connections tracked for stop(), streams in chunks."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # Go and llama.cpp set TCP_NODELAY on every TCP connection
    stream_type: ClassVar[str]  # the Content-Type of a streamed reply
    _streaming = False

    @property
    def fake(self) -> FakeT:
        return cast(FakeT, cast(_Server, self.server).fake)

    def setup(self) -> None:
        super().setup()
        server = cast(_Server, self.server)
        with server.lock:
            server.connections.add(self.connection)
            server.handlers.add(threading.current_thread())
            server.fake.connections_opened += 1

    def finish(self) -> None:
        with suppress(OSError):
            super().finish()
        server = cast(_Server, self.server)
        with server.lock:
            server.connections.discard(self.connection)
            server.handlers.discard(threading.current_thread())

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _begin_stream(self) -> None:
        if not self._streaming:
            self._streaming = True
            self.send_response(200)
            self.send_header("Content-Type", self.stream_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        """One HTTP chunk, written (hence flushed) at once; the stream's headers first."""
        self._begin_stream()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0, then close)."""
        self.close_connection = True
        with suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()
