"""From an OCR engine's text boxes to a scenario's reply: which overlay answers which field.

A camera burns its title and time stamp into a corner of the frame. A scenario that can be
answered by reading them says which corner holds which field (`OverlayField`); the boxes whose
centre lies in that corner's band are read in lines, top to bottom, left to right. A time stamp
is parsed from the camera's own format into ISO 8601. Pure functions: no I/O, no engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ollama_bench.models import TextBox

Region = Literal["top-left", "top-right", "bottom-left", "bottom-right"]
REGIONS: tuple[Region, ...] = ("top-left", "top-right", "bottom-left", "bottom-right")

#: An overlay sits at the edge: a box belongs to a top (bottom) region when its centre lies in
#: the top (bottom) quarter of the frame, so text in the scene (a gantry sign) is not mistaken.
EDGE_SHARE = 0.25


class OverlayField(BaseModel):
    """Where one field of the reply is overlaid, and how to read it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: Region
    read: Literal["text", "datetime"] = "text"  # datetime: parsed to ISO 8601


@dataclass(frozen=True)
class OverlayTask:
    """What an OCR target is asked in a run: the scenario's top-level fields and their overlays."""

    scenario: str
    fields: tuple[str, ...]
    mapping: Mapping[str, OverlayField] | None = field(default=None)

    @property
    def unanswered(self) -> tuple[str, ...]:
        """Fields no overlay holds (cctv: traffic_level): left out of the reply and its score."""
        mapped = self.mapping or {}
        return tuple(f for f in self.fields if f not in mapped)


def region_of(box: TextBox, width: int, height: int) -> Region | None:
    """The corner band holding the box's centre, or None for text in the middle of the frame.

    >>> box = TextBox(points=[(15, 11), (416, 11), (416, 29), (15, 29)], text="CAM", confidence=1)
    >>> region_of(box, 640, 360)
    'top-left'
    """
    xs = [x for x, _ in box.points]
    ys = [y for _, y in box.points]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    if cy < height * EDGE_SHARE:
        vertical = "top"
    elif cy > height * (1 - EDGE_SHARE):
        vertical = "bottom"
    else:
        return None
    horizontal = "left" if cx < width / 2 else "right"
    region: Region = f"{vertical}-{horizontal}"  # type: ignore[assignment]
    return region


def reading_order(boxes: Sequence[TextBox]) -> list[TextBox]:
    """Lines top to bottom (boxes whose centres are within half a box height share a line),
    each left to right."""

    def centre_y(b: TextBox) -> float:
        ys = [y for _, y in b.points]
        return (min(ys) + max(ys)) / 2

    def left(b: TextBox) -> float:
        return min(x for x, _ in b.points)

    lines: list[list[TextBox]] = []
    for box in sorted(boxes, key=centre_y):
        ys = [y for _, y in box.points]
        if lines and centre_y(box) - centre_y(lines[-1][0]) <= (max(ys) - min(ys)) / 2:
            lines[-1].append(box)
        else:
            lines.append([box])
    return [box for line in lines for box in sorted(line, key=left)]


def overlay_text(boxes: Sequence[TextBox], region: Region, width: int, height: int) -> str:
    """The text of every box in `region`, in reading order, joined by spaces."""
    inside = [b for b in boxes if region_of(b, width, height) == region]
    return " ".join(b.text.strip() for b in reading_order(inside)).strip()


_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(AM|PM)?")
_YEAR_FIRST = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})")
_YEAR_LAST = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})")


def _date(text: str) -> tuple[int, int, int] | None:
    """(year, month, day) of the first date in `text`, in a year-first or year-last format."""
    first = _YEAR_FIRST.search(text)
    if first:
        return int(first[1]), int(first[3]), int(first[4])
    last = _YEAR_LAST.search(text)
    if last:
        a, b, year = int(last[1]), int(last[3]), int(last[4])
        # day first (13/03/2024, 22-11-2024, 18.06.2024) unless only month first can be right
        return (year, a, b) if b > 12 >= a else (year, b, a)
    return None


def parse_overlay_datetime(text: str) -> str | None:
    """A camera's time stamp as ISO 8601, or None when it holds no date and time.

    Reads year-first dates (2024-06-18, 2024/08/23, 2024.06.18) and year-last ones, day first
    (13/03/2024, 22-11-2024, 18.06.2024) unless only month first can be right (06/18/2024); a
    24-hour time with or without seconds, or a 12-hour one with AM/PM; date and time in either
    order, with or without spaces (OCR often drops them).

    >>> parse_overlay_datetime("22-11-202421:47:19")
    '2024-11-22T21:47:19'
    >>> parse_overlay_datetime("2024/08/23 19:04")
    '2024-08-23T19:04'
    >>> parse_overlay_datetime("CAM 04") is None
    True
    """
    compact = re.sub(r"\s+", "", text).upper()
    time = _TIME.search(compact)
    if time is None:
        return None
    found = _date(compact[: time.start()] + " " + compact[time.end() :])
    if found is None:
        return None
    hour, minute = int(time[1]), int(time[2])
    second = int(time[3]) if time[3] else None
    if time[4]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if time[4] == "PM" else 0)
    try:
        stamp = datetime(*found, hour, minute, second or 0)
    except ValueError:  # 31/02, 25:00 and the like: what was read is no instant
        return None
    return stamp.isoformat(timespec="seconds" if second is not None else "minutes")


def read_overlays(
    boxes: Sequence[TextBox], mapping: Mapping[str, OverlayField], width: int, height: int
) -> dict[str, str]:
    """The reply: each mapped field's overlay text, time stamps as ISO 8601.

    A stamp that cannot be parsed is given as read, so it fails validation and scores 0 (OCR
    tried and got it wrong); an empty region gives "".
    """
    reply: dict[str, str] = {}
    for name, spec in mapping.items():
        text = overlay_text(boxes, spec.region, width, height)
        if spec.read == "datetime":
            text = parse_overlay_datetime(text) or text
        reply[name] = text
    return reply
