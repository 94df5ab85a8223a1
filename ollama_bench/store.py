"""Append-only JSONL run files: a header line, one line per sample flushed on completion, a footer.

A run interrupted by Ctrl-C or a crash keeps every finished sample; a torn last line (a crash in
the middle of a write) is skipped on reading rather than failing the whole file, and cut off
before a resumed run appends to it. Utilisation lines come from sampler threads, so writes are
serialised by a lock.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from ollama_bench.errors import UsageError
from ollama_bench.models import RunFooter, RunHeader, Sample, Segment, UtilisationSample


def default_run_path(directory: Path, label: str, started_at: datetime) -> Path:
    """`<dir>/<UTC timestamp>-<label>.jsonl`: sorts by time, names what was run."""
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    return directory / f"{stamp}-{label}.jsonl"


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
                self._file: IO[str] = path.open("a", encoding="utf-8")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = path.open("x", encoding="utf-8")
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
        self._lock = threading.Lock()
        if header is not None:
            self._write(header)

    def _write(self, record: BaseModel) -> None:
        line = record.model_dump_json() + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def append(self, record: BaseModel) -> None:
        self._write(record)
        self.records += 1

    def close(self, footer: BaseModel | None = None) -> None:
        if self._file.closed:
            return
        if footer is not None:
            self._write(footer)
        with self._lock:
            self._file.close()


def _cut_torn_tail(path: Path) -> None:
    """Truncate `path` after its last newline: what follows is a line the writer never ended."""
    with path.open("rb+") as file:
        data = file.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            file.truncate(end)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON line of a run file; a torn final line is dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read run file {path}: {exc.strerror}") from None
    lines = text.splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # written while the process died: the rest of the file is intact
            raise UsageError(
                f"{path}:{number}: not a JSON line", "is this an obench run file?"
            ) from None
    return records


@dataclass
class VisionRun:
    header: RunHeader
    samples: list[Sample]
    footer: RunFooter | None  # the last footer; None when the run did not finish
    utilisation: list[UtilisationSample] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)  # one per resumption
    footers: list[RunFooter] = field(default_factory=list)  # one per segment that finished


def read_vision_run(path: Path) -> VisionRun:
    records = read_lines(path)
    if not records or records[0].get("kind") != "header" or "scenario" not in records[0]:
        raise UsageError(
            f"{path} does not start with a vision run header",
            "pass a file that obench vision wrote",
        )
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
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(
            f"{path}: field {where}: {first['msg']}", "was it written by a newer obench?"
        ) from None
    # a footer belongs to the last segment only if no segment was started after it
    last = footers[-1] if footers and footers[-1].segment == len(segments) else None
    return VisionRun(header, samples, last, utilisation, segments, footers)
