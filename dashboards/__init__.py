"""Dash dashboards over a finished radiogenomics analysis.

>>> from dashboards import create_app
>>> app = create_app("radiogenomics-demo")        # doctest: +SKIP
>>> app.run(host="127.0.0.1", port=8050)          # doctest: +SKIP
"""

from .app import create_app, serve
from .auth import add_user

__all__ = ["create_app", "serve", "add_user"]
