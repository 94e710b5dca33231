"""The study report: one self-contained HTML file and the same as PDF, from stored results.

``study(mdata_or_results_folder, out)`` writes ``out/report.html`` and ``out/report.pdf``:
cohort and join, acquisition and extraction settings, the IBSI self-test, QC,
harmonisation, robustness, associations, the survival screen, models, and a checklist
(CLEAR, TRIPOD+AI, RQS) filled with what the software knows.
"""

from .checklist import checklist_rows
from .render import find_chromium, html_to_pdf, render_figures
from .study import SECTIONS, collect, study

__all__ = [
    "SECTIONS",
    "checklist_rows",
    "collect",
    "find_chromium",
    "html_to_pdf",
    "render_figures",
    "study",
]
