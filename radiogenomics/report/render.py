"""Static figures (plotly + kaleido, PNG) and PDF (Chromium's print-to-PDF) for the report."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

from ..errors import RadiogenomicsError

__all__ = ["find_chromium", "html_to_pdf", "render_figures"]

_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable: ``$BROWSER_PATH``, then the usual names.

    Returns ``None`` when there is none.

    See Also
    --------
    html_to_pdf, render_figures : what needs it.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from pathlib import Path
    >>> from unittest import mock
    >>> import radiogenomics as rg
    >>> found = rg.report.find_chromium()  # None on a machine without Chromium or Chrome
    >>> found is None or Path(found).exists()
    True
    >>> browser = Path(tempfile.mkdtemp()) / "chrome"
    >>> _ = browser.write_text("")
    >>> with mock.patch.dict(os.environ, {"BROWSER_PATH": str(browser)}):
    ...     rg.report.find_chromium() == str(browser)
    True
    """
    given = os.environ.get("BROWSER_PATH")
    if given and Path(given).exists():
        return given
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def render_figures(
    figures: Mapping[str, object], *, width: int = 860, height: int = 440, scale: float = 2.0
) -> tuple[dict[str, str], str | None]:
    """Each plotly figure as a PNG ``data:`` URI (at ``scale`` times the pixel size, sharp in
    print; smaller than SVG for the scatter plots of many features), all in one Chromium
    session.

    Returns
    -------
    (dict, str or None)
        The URIs by figure name, and why figures could not be rendered (``None`` when
        they were).

    See Also
    --------
    find_chromium : the browser kaleido renders with.

    Examples
    --------
    Rendering starts Chromium (through kaleido), so it is not run here:

    >>> import plotly.graph_objects as go
    >>> import radiogenomics as rg
    >>> figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[2.0, 1.5, 3.2]))
    >>> uris, problem = rg.report.render_figures({"scatter": figure})  # doctest: +SKIP
    >>> problem, uris["scatter"][:22]  # doctest: +SKIP
    (None, 'data:image/png;base64,')
    >>> rg.report.render_figures({})  # nothing to render: no browser is started
    ({}, None)
    """
    if not figures:
        return {}, None
    try:
        import kaleido
    except ImportError:
        return {}, "kaleido is not installed (pip install kaleido)"
    browser = find_chromium()
    if browser is not None:
        os.environ.setdefault("BROWSER_PATH", browser)
    out: dict[str, str] = {}
    try:
        kaleido.start_sync_server(silence_warnings=True)
        try:
            for name, fig in figures.items():
                with warnings.catch_warnings():  # plotly's note that a server ignores kopts
                    warnings.simplefilter("ignore", UserWarning)
                    png = fig.to_image(format="png", width=width, height=height, scale=scale)
                out[name] = "data:image/png;base64," + base64.b64encode(png).decode()
        finally:
            kaleido.stop_sync_server(silence_warnings=True)
    except Exception as exc:  # no browser, a crashed renderer: the report still gets written
        return out, f"figures could not be rendered: {type(exc).__name__}: {exc}"[:300]
    return out, None


def html_to_pdf(html: Path, pdf: Path, *, timeout: float = 180) -> Path:
    """Print an HTML file to PDF with headless Chromium (WeasyPrint when there is none).

    Raises
    ------
    RadiogenomicsError
        When neither is available or printing fails.

    See Also
    --------
    find_chromium : the browser it prints with.
    study : writes the report's HTML and prints it with this.

    Examples
    --------
    Printing starts headless Chromium, so it is not run here:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import radiogenomics as rg
    >>> folder = Path(tempfile.mkdtemp())
    >>> html = folder / "note.html"
    >>> _ = html.write_text("<h1>Cohort</h1><p>20 patients</p>", encoding="utf-8")
    >>> pdf = rg.report.html_to_pdf(html, folder / "note.pdf")  # doctest: +SKIP
    >>> pdf.name, pdf.read_bytes()[:5]  # doctest: +SKIP
    ('note.pdf', b'%PDF-')
    """
    browser = find_chromium()
    pdf = Path(pdf)
    tmp = pdf.with_name(f".{pdf.name}.tmp")
    if browser is not None:
        with tempfile.TemporaryDirectory(prefix="radiogenomics-pdf-") as profile:
            command = [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-extensions",
                "--disable-background-networking",
                "--no-pdf-header-footer",
                f"--user-data-dir={profile}",
                f"--print-to-pdf={tmp}",
                Path(html).resolve().as_uri(),
            ]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise RadiogenomicsError(
                    "Chromium did not print the report in time", file=html, found=f"{timeout} s"
                ) from None
        if not tmp.exists() or tmp.stat().st_size == 0:
            detail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
            raise RadiogenomicsError(
                "Chromium could not print the report to PDF", file=html, found=detail[0][:200]
            )
        os.replace(tmp, pdf)
        return pdf
    try:
        import weasyprint
    except ImportError:
        raise RadiogenomicsError(
            "no way to write the PDF",
            file=pdf,
            expected="Chromium (apt install chromium) or WeasyPrint (pip install weasyprint)",
        ) from None
    weasyprint.HTML(filename=str(html)).write_pdf(str(tmp))
    os.replace(tmp, pdf)
    return pdf
