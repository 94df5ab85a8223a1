"""Overlay reading: which boxes answer which field, and camera time stamps to ISO 8601."""

from __future__ import annotations

import pytest

from ollama_bench.models import TextBox
from ollama_bench.targets.overlay import (
    OverlayField,
    OverlayTask,
    overlay_text,
    parse_overlay_datetime,
    read_overlays,
    reading_order,
    region_of,
)

W, H = 640, 360


def box(x0: float, y0: float, x1: float, y1: float, text: str, confidence: float = 0.98) -> TextBox:
    return TextBox(
        points=[(x0, y0), (x1, y0), (x1, y1), (x0, y1)], text=text, confidence=confidence
    )


# What rapidocr read from the bundled cctv_03.jpg (night, gantry), plus a gantry sign mid-frame
FRAME = [
    box(416, 332, 626, 350, "22-11-202421:47:19", 0.99),
    box(15, 12, 345, 28, "CAM27-04M-40KM9.8MADRID", 0.976),
    box(250, 120, 390, 140, "MADRID 12 km"),
]
CCTV = {
    "title": OverlayField(region="top-left"),
    "datetime": OverlayField(region="bottom-right", read="datetime"),
}


def test_regions_are_corner_bands() -> None:
    assert [region_of(b, W, H) for b in FRAME] == ["bottom-right", "top-left", None]
    assert region_of(box(500, 5, 630, 20, "x"), W, H) == "top-right"
    assert region_of(box(10, 340, 100, 355, "x"), W, H) == "bottom-left"
    # the centre decides: 89 px is inside the top quarter of 360 px, 91 px is not
    assert region_of(box(10, 80, 100, 98, "x"), W, H) == "top-left"
    assert region_of(box(10, 82, 100, 100, "x"), W, H) is None


def test_boxes_read_in_lines_then_left_to_right() -> None:
    # a stamp split in two boxes, the time box 1 px higher than the date box: one line
    date, time = box(415, 331, 520, 349, "13/03/2024"), box(530, 330, 626, 348, "11:08:42")
    second_line = box(415, 300, 500, 318, "LINE1")
    assert [b.text for b in reading_order([time, date, second_line])] == [
        "LINE1",
        "13/03/2024",
        "11:08:42",
    ]
    assert overlay_text([time, date], "bottom-right", W, H) == "13/03/2024 11:08:42"
    assert overlay_text(FRAME, "top-right", W, H) == ""


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        # the bundled frames' formats, as OCR reads them (spaces dropped) and as drawn
        ("13/03/202411:08:42", "2024-03-13T11:08:42"),  # %d/%m/%Y
        ("2024-06-1817:26:05", "2024-06-18T17:26:05"),  # %Y-%m-%d
        ("22-11-202421:47:19", "2024-11-22T21:47:19"),  # %d-%m-%Y
        ("2024-10-14 08:12:57", "2024-10-14T08:12:57"),
        ("29/01/2025 05:53:31", "2025-01-29T05:53:31"),
        ("2024/08/2319:04:48", "2024-08-23T19:04:48"),  # %Y/%m/%d
        # other common camera formats
        ("18.06.2024 17:26:05", "2024-06-18T17:26:05"),
        ("06/18/2024 05:26:05 PM", "2024-06-18T17:26:05"),  # month first: 18 is no month
        ("04/03/2024 12:00:00 AM", "2024-03-04T00:00:00"),  # both ≤ 12: day first
        ("17:26:05 2024-06-18", "2024-06-18T17:26:05"),  # time first
        ("2024-06-18T17:26", "2024-06-18T17:26"),  # minutes only: no seconds invented
        ("2024-6-817:26:05", "2024-06-08T17:26:05"),  # one-digit month and day, glued
    ],
)
def test_overlay_datetimes(text: str, iso: str) -> None:
    assert parse_overlay_datetime(text) == iso


@pytest.mark.parametrize(
    "text",
    [
        "",
        "CAM 04",
        "2024-06-18",
        "17:26:05",
        "31/02/2024 10:00:00",
        "2024-06-18 25:00",
        "2024-06-18 13:00 PM",
    ],
)
def test_not_a_time_stamp(text: str) -> None:
    assert parse_overlay_datetime(text) is None


def test_read_overlays_maps_fields() -> None:
    assert read_overlays(FRAME, CCTV, W, H) == {
        "title": "CAM27-04M-40KM9.8MADRID",
        "datetime": "2024-11-22T21:47:19",
    }
    # a stamp OCR misread is given as read (invalid ISO: it fails validation and scores 0)
    misread = [box(416, 332, 626, 350, "22-11-2O2421:47:19"), FRAME[1]]
    assert read_overlays(misread, CCTV, W, H)["datetime"] == "22-11-2O2421:47:19"
    assert read_overlays([], CCTV, W, H) == {"title": "", "datetime": ""}


def test_overlay_task_names_what_is_not_answered() -> None:
    task = OverlayTask("cctv", ("title", "datetime", "traffic_level"), CCTV)
    assert task.unanswered == ("traffic_level",)
    assert OverlayTask("products", ("name", "description")).unanswered == ("name", "description")
