"""Append-only JSONL run files: a header line, one line per sample flushed on completion, a footer.

A run interrupted by Ctrl-C or a crash keeps every finished sample; a torn last line (a crash in
the middle of a write) is skipped on reading rather than failing the whole file, and cut off
before a resumed run appends to it. Utilisation lines come from sampler threads, so writes are
serialised by a lock.

Each line goes to the OS in one unbuffered write. When the disk fills, the part of a line that
fitted is cut off again (truncating frees space, so that works on a full disk), the file ends on a
whole line, and the writer raises RunFileError for this and every later record: the caller stops
the run and summarises what it measured. A file that cannot take even its header is removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from ollama_bench.errors import RunFileError, UsageError
from ollama_bench.models import RunFooter, RunHeader, Sample, Segment, UtilisationSample
from ollama_bench.untrusted import sanitised, storable


def default_run_path(directory: Path, label: str, started_at: datetime, run_id: str) -> Path:
    """`<dir>/<UTC timestamp>-<label>-<run id prefix>.jsonl`: sorts by time, names what was run,
    and two runs started in the same second still get a file each."""
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    return directory / f"{stamp}-{label}-{run_id[:8]}.jsonl"


def run_path(out: Path, label: str, started_at: datetime, run_id: str) -> Path:
    """`out` itself when it names a .jsonl file, else a time-stamped file inside it (--out)."""
    return out if out.suffix == ".jsonl" else default_run_path(out, label, started_at, run_id)


def json_line(record: BaseModel) -> bytes:
    """One record as a UTF-8 JSON line. Text no UTF-8 file can hold (a lone surrogate from a
    server) is stored as U+FFFD rather than failing the record."""
    try:
        text = record.model_dump_json()
    except PydanticSerializationError:
        text = sanitised(record, storable).model_dump_json()
    return (text + "\n").encode("utf-8")


class RunWriter:
    """Writes one run file; every record is on disk before the next request starts.

    With `header` None it appends to an existing file (a resumed run), first cutting off a torn
    last line so that the next record starts on a line of its own.
    """

    def __init__(self, path: Path, header: BaseModel | None) -> None:
        self.path = path
        try:
            if header is None:
                _cut_torn_tail(path)
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except FileExistsError:
            raise UsageError(
                f"run file {path} already exists",
                "pass another --out, remove the file, or continue it with --resume",
            ) from None
        except OSError as exc:
            raise UsageError(
                f"cannot write run file {path}: {exc.strerror}", "pass a writable --out"
            ) from None
        self.records = 0
        self.failure: RunFileError | None = None
        self._size_bytes = os.fstat(self._fd).st_size  # what is on disk: whole lines only
        self._lock = threading.Lock()
        if header is None:
            return
        try:
            self._write(header)
        except RunFileError as exc:
            os.close(self._fd)
            path.unlink(missing_ok=True)  # holds nothing: nothing was measured yet
            raise RunFileError(exc.message, "free space or pass another --out") from None

    def _write(self, record: BaseModel) -> None:
        data = json_line(record)
        with self._lock:
            if self.failure is not None:
                raise self.failure
            try:
                view = memoryview(data)
                while view:  # a write may be short when the disk is filling
                    view = view[os.write(self._fd, view) :]
            except BaseException as exc:  # a full disk, or Ctrl-C inside the loop: no torn line
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size_bytes)
                if not isinstance(exc, OSError):
                    raise
                self.failure = RunFileError(
                    f"cannot write run file {self.path}: {exc.strerror or exc}",
                    f"it holds the first {self.records} records whole; free space "
                    "(or pass another --out) and run again",
                )
                raise self.failure from None
            self._size_bytes += len(data)

    def append(self, record: BaseModel) -> None:
        self._write(record)
        self.records += 1

    def close(self, footer: BaseModel | None = None) -> None:
        """Write the footer (unless the file can no longer be written) and close."""
        with self._lock:
            if self._fd < 0:
                return
        if footer is not None and self.failure is None:
            with contextlib.suppress(RunFileError):
                self._write(footer)
        with self._lock:
            os.close(self._fd)
            self._fd = -1


def _cut_torn_tail(path: Path) -> None:
    """Truncate `path` after its last newline: what follows is a line the writer never ended."""
    with path.open("rb+") as file:
        data = file.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            file.truncate(end)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON line of a run file; a torn final line is dropped. A file that is not
    a run file (binary, or lines that are JSON but not objects) is a UsageError naming the line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read run file {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not UTF-8 text (byte {exc.start} is not)", "is this an obench run file?"
        ) from None
    lines = text.splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            if number == len(lines):
                break  # written while the process died: the rest of the file is intact
            raise UsageError(
                f"{path}:{number}: not a JSON line", "is this an obench run file?"
            ) from None
        if not isinstance(record, dict):
            raise UsageError(
                f"{path}:{number}: not a JSON object ({type(record).__name__})",
                "is this an obench run file?",
            )
        records.append(record)
    return records


def invalid_record(path: Path, exc: ValidationError) -> UsageError:
    """The first field of a run file line that does not validate, as a one-line error."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return UsageError(f"{path}: field {where}: {first['msg']}", "was it written by a newer obench?")


@dataclass
class VisionRun:
    header: RunHeader
    samples: list[Sample]
    footer: RunFooter | None  # the last footer; None when the run did not finish
    utilisation: list[UtilisationSample] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)  # one per resumption
    footers: list[RunFooter] = field(default_factory=list)  # one per segment that finished


def is_vision_header(record: dict[str, Any]) -> bool:
    return record.get("kind") == "header" and "scenario" in record and "benchmark" not in record


def read_vision_run(path: Path) -> VisionRun:
    records = read_lines(path)
    if not records or not is_vision_header(records[0]):
        raise UsageError(
            f"{path} does not start with a vision run header",
            "pass a file that obench vision wrote",
        )
    return vision_run_of(records, path)


def vision_run_of(records: list[dict[str, Any]], path: Path) -> VisionRun:
    """The records of a vision run file (read_lines), validated."""
    try:
        header = RunHeader.model_validate(records[0])
        samples = [Sample.model_validate(r) for r in records[1:] if r.get("kind") == "sample"]
        footers = [RunFooter.model_validate(r) for r in records[1:] if r.get("kind") == "footer"]
        utilisation = [
            UtilisationSample.model_validate(r)
            for r in records[1:]
            if r.get("kind") == "utilisation"
        ]
        segments = [Segment.model_validate(r) for r in records[1:] if r.get("kind") == "segment"]
    except ValidationError as exc:
        raise invalid_record(path, exc) from None
    # a footer belongs to the last segment only if no segment was started after it
    last = footers[-1] if footers and footers[-1].segment == len(segments) else None
    return VisionRun(header, samples, last, utilisation, segments, footers)
