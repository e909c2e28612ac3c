"""The report page in a real browser: headless Chromium (Debian package ``chromium``).

A small report is built from hand-made Parquet inputs
(``tests.support.report_inputs.make_run``), then the page is opened in Chromium: every image
must decode (the page records broken ones in ``data-broken-images`` and logs a console error),
the page must log nothing to the console, and every ``src``/``href`` must name an existing
file. A screenshot is kept under
``results/tests/``. The checker is also shown to catch a missing figure and a broken link.
``make test`` installs Chromium first (``make browser``); without it these tests skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.support import REPO
from tests.support.report_inputs import build_small_report, make_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOT = REPO / "results" / "tests" / "report_browser.png"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (make browser installs it as root)"
)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href") and v:
                self.targets.append(v)


def broken_links(index: Path) -> list[str]:
    """Relative ``src``/``href`` targets of the page that do not exist (anchors must exist too)."""
    p = _Links()
    text = index.read_text()
    p.feed(text)
    ids = set(re.findall(r'id="([^"]+)"', text))
    bad = []
    for t in p.targets:
        if t.startswith("#"):
            if t[1:] not in ids:
                bad.append(t)
        elif not re.match(r"^[a-z]+:", t) and not (index.parent / t.split("#")[0]).is_file():
            bad.append(t)
    return bad


def open_in_chromium(index: Path, screenshot: Path | None = None) -> tuple[str, list[str]]:
    """(DOM after load, console lines) of ``index`` in headless Chromium."""
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
            f"--user-data-dir={index.parent / '.chromium-profile'}"]
    url = index.resolve().as_uri()
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        shot = subprocess.run([*base, "--window-size=1280,2400", f"--screenshot={screenshot}",
                               url], capture_output=True, text=True, timeout=90)
        assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    shutil.rmtree(index.parent / ".chromium-profile", ignore_errors=True)
    return dom.stdout, console


def _attr(dom: str, name: str) -> str:
    m = re.search(rf'{name}="([^"]*)"', dom)
    assert m, f"{name} not set: the page's load check did not run"
    return m.group(1)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    return build_small_report(root, make_run(root), root / "report")


def test_report_page_loads_in_chromium(report):
    assert broken_links(report) == []
    dom, console = open_in_chromium(report, SHOT)
    assert console == [], console
    assert _attr(dom, "data-broken-images") == ""
    assert int(_attr(dom, "data-images")) == 6  # every figure of the report was decoded
    assert 'id="stand-ins"' in dom and "SYNTHETIC NRQM model" in dom
    from PIL import Image

    with Image.open(SHOT) as im:
        assert im.size == (1280, 2400)
        # not a blank page: the red stand-in banner and text make many distinct colours
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50


def test_checker_catches_a_missing_figure_and_a_broken_link(report, tmp_path):
    copy = tmp_path / "report"
    shutil.copytree(report.parent, copy)
    (copy / "figures" / "pd_plane.png").unlink()
    (copy / "tables" / "table3.tex").unlink()
    assert sorted(set(broken_links(copy / "index.html"))) == [
        "figures/pd_plane.png", "tables/table3.tex"]
    dom, console = open_in_chromium(copy / "index.html")
    assert _attr(dom, "data-broken-images") == "figures/pd_plane.png"
    assert any("report image failed to load: figures/pd_plane.png" in ln for ln in console)
