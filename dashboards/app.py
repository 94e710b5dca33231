"""The app factory and the server."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html

from radiogenomics.errors import InputError

from .auth import BasicAuth, is_loopback
from .components import NAV, card, header, notice
from .pages import PAGES
from .results import Results, load_results
from .security import install as install_security
from .store import filter_from_params

__all__ = ["create_app", "serve", "warm_up", "check_listen"]

log = logging.getLogger("radiogenomics.dashboards")
ASSETS = Path(__file__).resolve().parent / "assets"
#: plotly.js's cartesian bundle (``assets/plotly-cartesian.min.js``, the plotly.js version
#: that plotly.py ships, MIT licence beside it) is served with the page: a third of the
#: full bundle, with every trace type the pages draw. ``dcc.Graph`` uses it instead of
#: loading the full plotly.js once the page has started.
PLOTLY_BUNDLE = ASSETS / "plotly-cartesian.min.js"


#: What the server compresses for browsers that accept it: pages, scripts, styles, layouts
#: and callback answers (not downloads).
COMPRESSED_TYPES = [
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/json",
]


def _compress(server) -> None:
    """Compress responses with zstd (fast to make, small), else brotli or gzip, as the
    browser accepts: the page's scripts shrink from 3 MB to under 1 MB on the wire."""
    from flask_compress import Compress

    server.config.setdefault("COMPRESS_ALGORITHM", ["zstd", "br", "gzip"])
    server.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    Compress(server)


def _quiet_server(server) -> None:
    """Keep the server's log free of patient data: no request lines, and a failed request
    is logged by its path and exception type only (never its message or traceback, which
    could quote a patient identifier)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    def log_exception(exc_info) -> None:
        from flask import request

        kind = exc_info[0].__name__ if exc_info and exc_info[0] else "error"
        log.error("request to %s failed (%s)", request.path, kind)

    server.log_exception = log_exception


def _report(results: Results, name: str) -> Path | None:
    """``<results folder>/report/<name>`` (report.html or report.pdf) when it exists; never
    with pseudonyms on (the report names patients by their IDs)."""
    if name not in ("report.html", "report.pdf") or results.pseudonymize:
        return None
    source = Path(results.source)
    path = source / "report" / name
    return path if source.is_dir() and path.is_file() else None


def create_app(
    path: str | os.PathLike | Results,
    *,
    auth_file: str | os.PathLike | None = None,
    pseudonymize: bool = False,
    pseudonym_key: str | None = None,
    time: str | None = None,
    event: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    title: str = "radiogenomics",
) -> dash.Dash:
    """The Dash app over a results folder or a cohort file.

    Parameters
    ----------
    path
        A results folder (with ``cohort.h5mu`` and result tables, e.g. the demo's output
        folder) or a ``.h5mu`` cohort file; see :func:`dashboards.results.load_results`.
    auth_file
        Password file (``radiogenomics passwd``): every request then needs HTTP basic
        authentication.
    pseudonymize
        Show patients as ``PT-001``, ... instead of their IDs.
    pseudonym_key
        Secret that orders the pseudonyms (keep it to keep them stable and unguessable).
    time, event
        Survival time and event columns, when the cohort does not record them.
    cache_dir
        Where serving copies of large tables go.
    title
        Browser title and header.

    Returns
    -------
    dash.Dash
        ``app.server`` is the Flask (WSGI) application.
    """
    results = (
        path
        if isinstance(path, Results)
        else load_results(
            path,
            time=time,
            event=event,
            pseudonymize=pseudonymize,
            pseudonym_key=pseudonym_key,
            cache_dir=cache_dir,
        )
    )
    app = dash.Dash(
        __name__,
        title=title,
        assets_folder=str(ASSETS),
        serve_locally=True,
        suppress_callback_exceptions=True,
        update_title=None,
    )
    routes = {page.PATH: page for page in PAGES}

    def page_content(pathname: str, search: str | None = None):
        try:
            stripped = app.strip_relative_path(pathname or "/") or ""
        except dash.exceptions.UnsupportedRelativePath:
            stripped = None
        page = None if stripped is None else routes.get("/" + stripped.strip("/"))
        if page is None:
            return card("Not found", notice("There is no such page."))
        return page.layout(results, query_params(search))

    def layout():
        """The page the browser shows, whole: its figures and tables are made here, with
        the controls' first values (those of the page's query string, else the defaults),
        instead of by a chain of callbacks once the page has loaded. The browser names its
        page by the Referer of the layout request; without it, the page is filled when
        ``dcc.Location`` reports the path."""
        pathname, search = _page_path()
        where = {"pathname": pathname, "search": search} if pathname else {}
        return html.Div(
            [
                dcc.Location(id="url", refresh=False, **where),
                header(
                    title,
                    active=pathname,
                    report="/report/report.html" if _report(results, "report.html") else None,
                ),
                html.Main(
                    page_content(pathname, search) if pathname else None,
                    id="page",
                    className="rg-main",
                ),
            ]
        )

    app.layout = layout

    @app.callback(
        Output("page", "children"),
        Input("url", "pathname"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def route(pathname, search):
        return page_content(pathname, search)

    # the current page marked in the navigation, in the browser
    app.clientside_callback(
        ClientsideFunction("rg", "markNav"),
        [Output(f"nav-{label.lower()}", "className") for _, label in NAV],
        Input("url", "pathname"),
        prevent_initial_call=True,
    )

    for page in PAGES:
        page.register(app, results)

    server = app.server
    server.config["RADIOGENOMICS_RESULTS"] = results
    _compress(server)
    if auth_file is not None:  # a password file, or a BasicAuth with its own limits
        auth = auth_file if isinstance(auth_file, BasicAuth) else BasicAuth(auth_file)
        auth.init_app(server)
    # headers, and callback requests checked before they run (after authentication)
    install_security(
        app, server, layouts=lambda: [layout(), *(page.layout(results) for page in PAGES)]
    )

    @server.route("/download/associations.csv")
    def download_associations():
        from flask import Response, abort, request

        store = results.associations.get(request.args.get("table", ""))
        if store is None:
            abort(404)
        flt = filter_from_params(request.args)
        sort = request.args.get("sort")
        sort_by = (
            [{"column_id": sort, "direction": request.args.get("dir", "asc")}]
            if (sort in store.columns)
            else None
        )
        return Response(
            store.iter_csv(flt, sort_by),
            mimetype="text/csv",
            headers={
                "Content-Disposition": 'attachment; filename="associations.csv"',
                "Cache-Control": "no-store",
            },
        )

    @server.route("/report/<name>")
    def study_report(name):
        """The study report of the results folder (``radiogenomics report``), if written."""
        from flask import abort, send_file

        found = _report(results, name)
        if found is None:
            abort(404)
        return send_file(found, max_age=0)

    _quiet_server(server)
    return app


def warm_up(app: dash.Dash) -> None:
    """Make every page once (its figures, tables and the queries behind them), so that the
    first visitor finds them ready. A page that fails is logged by its path and the
    exception's type only, and served as before (its error then shows on the page)."""
    results = app.server.config["RADIOGENOMICS_RESULTS"]
    for page in PAGES:
        try:
            page.layout(results, {})
        except Exception as exc:  # noqa: BLE001 - never stop the server for one page
            log.error("could not prepare the page %s (%s)", page.PATH, type(exc).__name__)


def query_params(search: str | None) -> dict[str, str]:
    """The query string of a page (``?variable=stage&split=median``) as a dict of its
    first values; a page reads only the keys it knows and checks their values."""
    text = (search or "").lstrip("?")
    return {
        key: values[0][:200] for key, values in parse_qs(text).items() if values and len(key) <= 40
    }


def _page_path() -> tuple[str | None, str]:
    """The path and query string of the page that asks for the layout (from the Referer
    of a request of this server's pages), or ``(None, "")``."""
    from flask import has_request_context, request

    if not has_request_context() or not request.referrer:
        return None, ""
    parts = urlsplit(request.referrer)
    if parts.netloc != request.host or not parts.path.startswith("/"):
        return None, ""
    return parts.path, f"?{parts.query}" if parts.query else ""


def check_listen(host: str, auth_file=None, hint: str | None = None) -> None:
    """Refuse to listen on an address other than this machine's without a password file
    (:func:`serve` calls it; a command that would serve only at its end calls it first)."""
    if not is_loopback(host) and auth_file is None:
        raise InputError(
            f"refusing to listen on {host} without authentication",
            expected="127.0.0.1 (this machine only), or a password file",
            found=host,
            hint=hint
            or "Create one with 'radiogenomics passwd FILE USER' and "
            "pass --auth-file FILE (and put the server behind HTTPS)",
        )


def serve(
    path: str | os.PathLike,
    host: str = "127.0.0.1",
    port: int = 8050,
    *,
    auth_file: str | os.PathLike | None = None,
    threads: int = 8,
    echo=print,
    **options,
) -> None:
    """Serve the dashboards of a results folder or cohort file until interrupted.

    Listens on ``127.0.0.1`` by default. Any other address needs ``auth_file``: the server
    refuses to expose patient data to a network without authentication.

    Parameters
    ----------
    path
        Results folder or ``.h5mu`` cohort file.
    host, port
        Address to listen on.
    auth_file
        Password file for HTTP basic authentication.
    threads
        Worker threads of the WSGI server (waitress).
    options
        Passed to :func:`create_app` (``pseudonymize``, ``time``, ``event``, ...).
    """
    check_listen(host, auth_file)
    app = create_app(path, auth_file=auth_file, **options)
    warm_up(app)
    from waitress import create_server

    logging.getLogger("waitress").setLevel(logging.WARNING)
    server = create_server(app.server, host=host, port=port, threads=threads, ident="radiogenomics")
    echo(
        f"Serving the dashboards of {path} on http://{host}:{server.effective_port}/ "
        f"({'authentication required' if auth_file else 'no authentication'}); "
        "Ctrl+C stops."
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
