"""The dashboard's pages: each module has PATH, TITLE, layout(results) and
register(app, results)."""

from . import associations, compare, models, overview, patient, subtypes, survival

PAGES = [overview, associations, survival, patient, models, subtypes, compare]
