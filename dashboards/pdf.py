"""PDF of a page's printable HTML, printed by a headless Chromium (Playwright driving the
system's browser, as the browser tests do)."""

from __future__ import annotations

import datetime as _dt
import html
import os
import threading
from pathlib import Path

__all__ = ["PdfUnavailable", "html_to_pdf", "chromium_path"]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_LOCK = threading.Lock()  # one browser at a time: a PDF is a rare, heavy request


class PdfUnavailable(Exception):
    """No browser to print with on this server."""


def chromium_path() -> Path | None:
    """The Chromium to print with: ``RADIOGENOMICS_CHROMIUM``, else Debian's
    ``/usr/bin/chromium``, else ``None``."""
    for candidate in (
        os.environ.get("RADIOGENOMICS_CHROMIUM"),
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def html_to_pdf(text: str, footer: str = "") -> bytes:
    """A4 PDF of a self-contained HTML page, with ``footer`` (and the page number) at the
    foot of every page."""
    browser_path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is an optional dependency
        raise PdfUnavailable("printing to PDF needs the playwright package") from None
    if browser_path is None:
        raise PdfUnavailable("printing to PDF needs Chromium (set RADIOGENOMICS_CHROMIUM)")
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    template = (
        '<div style="font-size:7pt;color:#56657a;width:100%;padding:0 12mm;'
        'display:flex;justify-content:space-between"><span>'
        f"{html.escape(footer)} · printed {stamp}</span><span>page "
        '<span class="pageNumber"></span> of <span class="totalPages"></span></span>'
        "</div>"
    )
    with _LOCK, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(browser_path), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.set_content(text, wait_until="load")
            page.emulate_media(media="print")
            return page.pdf(
                format="A4",
                print_background=True,
                display_header_footer=True,
                header_template="<div></div>",
                footer_template=template,
                margin={"top": "12mm", "bottom": "16mm", "left": "10mm", "right": "10mm"},
            )
        finally:
            browser.close()
