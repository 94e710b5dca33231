"""The dashboard's pages: each module has PATH, TITLE, layout(results) and
register(app, results)."""

from . import associations, overview, patient, survival

PAGES = [overview, associations, survival, patient]
