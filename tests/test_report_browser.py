"""The HTML report in a real browser: headless Chromium (Debian's `chromium`) opens it with the
network blocked, and the page must load with no console error, ask for nothing outside itself,
show every figure (each one decoded and not a single colour), run none of the scripts hidden in
a reply, an error text, a version, an image file name and a device name, and show them as text.
Pages: a vision run, a load run, and the three kinds of CNN run.

Driven with Playwright (its Python package ships the driver; the browser is the system's, as
Playwright's own download is impossible here). Without Chromium the tests skip, saying so; with
CI set they fail instead (.ci/run installs it). OBENCH_SCREENSHOTS=DIR keeps the screenshots.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from report_runs import (
    HOSTILE_DEVICE,
    HOSTILE_ERROR,
    HOSTILE_IMAGE,
    SCRIPT,
    cnn_infer_run,
    cnn_parallel_run,
    cnn_train_run,
    load_run,
    vision_run,
)
from typer.testing import CliRunner

from ollama_bench.cli import app

playwright = pytest.importorskip("playwright.sync_api")

#: Chromium's flags as root in a sandboxed machine with no network: no setuid sandbox, no GPU,
#: and none of the background connections (updates, sync, QUIC probes) that it would try.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 768}


def chromium_path() -> str:
    found = os.environ.get("OBENCH_CHROMIUM") or shutil.which("chromium") or ""
    if not found or not Path(found).exists():
        reason = "Debian's chromium is not installed (apt-get install chromium; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


class Page:
    """A page loaded from a file with every request outside it refused and recorded."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.requests: list[str] = []
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport=LAPTOP, java_script_enabled=True)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.as_uri(), wait_until="load")

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            route.abort()


@pytest.fixture(scope="module")
def browser(pages: dict[str, Path]) -> Iterator[Any]:
    """Started after the pages are made: Playwright's sync API holds an event loop in this
    thread while it runs, and obench vision runs its own."""
    executable = chromium_path()
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The HTML of a vision run (two targets 6× apart, failures, an invalid reply), of a load run
    (a 1-slot and a 4-slot server, failures) and of the three kinds of CNN run, written by
    obench report."""
    folder = tmp_path_factory.mktemp("html")
    vision = vision_run(folder)
    load = load_run(folder)
    cnn = [
        cnn_infer_run(folder / "infer.jsonl"),
        cnn_parallel_run(folder / "parallel.jsonl"),
        cnn_train_run(folder / "train.jsonl"),
    ]
    made = {}
    for name, files in (("vision", [vision]), ("load", [load]), ("cnn", cnn)):
        out = folder / f"{name}.html"
        result = CliRunner().invoke(
            app, ["report", *map(str, files), "--format", "html", "-o", str(out)]
        )
        assert result.exit_code == 0, result.output
        made[name] = out
    return made


def _not_one_colour(png: bytes) -> int:
    """How many colours a screenshot has (a blank or broken figure has one)."""
    colours = Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 20)
    return len(colours) if colours is not None else 1 << 20


def _keep(name: str, png: bytes) -> None:
    folder = os.environ.get("OBENCH_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(png)


@pytest.mark.parametrize(
    ("name", "figures", "hostile"),
    [
        ("vision", 6, [SCRIPT, HOSTILE_IMAGE, HOSTILE_ERROR.split(" $")[0]]),
        ("load", 5, [SCRIPT, HOSTILE_IMAGE]),
        ("cnn", 4 + 1 + 2, [HOSTILE_DEVICE]),
    ],
)
def test_report_in_chromium(
    browser: Any, pages: dict[str, Path], name: str, figures: int, hostile: list[str]
) -> None:
    loaded = Page(browser, pages[name])
    page = loaded.page
    try:
        assert loaded.errors == []
        assert [m for m in loaded.console if m[0] in ("error", "warning")] == []
        assert loaded.requests == [pages[name].as_uri()]  # nothing beyond the file itself
        assert page.evaluate("window.__pwned") is None  # no injected script ran
        assert page.evaluate("document.scripts.length") == 0
        text = page.inner_text("body")
        for payload in hostile:
            assert payload.replace("\x1b", "\\x1b") in text  # shown as text instead
        _keep(f"{name}-first-screen.png", page.screenshot())
        verdict = page.locator(".verdict").first
        box = verdict.bounding_box()
        assert box is not None and box["y"] < 250  # the verdict opens the page
        assert ". " in verdict.inner_text() + " "  # a sentence (then a link, with several runs)
        shown = page.locator("figure.chart")
        assert shown.count() == figures
        for i in range(figures):
            figure = shown.nth(i)
            image = figure.locator("img")
            assert image.evaluate("img => img.complete && img.naturalWidth > 0")
            assert len(figure.locator("figcaption").inner_text()) > 80  # says what and how
            png = image.screenshot()
            _keep(f"{name}-figure-{i + 1}.png", png)
            assert _not_one_colour(png) > 8
        _keep(f"{name}-page.png", page.screenshot(full_page=True))
    finally:
        loaded.context.close()


def test_an_expandable_reply_opens_and_shows_the_markup_as_text(
    browser: Any, pages: dict[str, Path]
) -> None:
    loaded = Page(browser, pages["vision"])
    try:
        summary = loaded.page.locator("table.problems details summary").first
        summary.click()
        reply = loaded.page.locator("table.problems details pre").first
        assert reply.is_visible()
        assert SCRIPT in reply.inner_text()
        assert loaded.page.evaluate("window.__pwned") is None
    finally:
        loaded.context.close()
