"""Response headers and the validation of callback requests.

- Every response carries a Content-Security-Policy (scripts from this server only, plus
  the hashes of Dash's own inline scripts), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy`` and ``X-Frame-Options``; every response but the static scripts and
  styles is ``Cache-Control: no-store`` (pages, layouts and callback answers hold patient
  data); behind TLS (the request is secure, or a proxy says ``X-Forwarded-Proto: https``)
  also ``Strict-Transport-Security``.
- A callback request (``/_dash-update-component``) is checked before Dash runs it: JSON
  of the shape the Dash renderer sends, for a callback the app has, with the inputs and
  state that callback declares, and values of the types the components' properties take
  (read from the Dash component classes of the served pages) and of the kind (text,
  number, list...) the pages give them, or empty. Anything else is answered
  400 without running a callback. An error of the library's input family
  (:class:`~radiogenomics.errors.RadiogenomicsError`) raised by a callback is answered 400
  too; any other exception stays a server error (500), logged by its type.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import threading
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence

from radiogenomics.errors import RadiogenomicsError

__all__ = ["install", "CallbackGuard", "content_security_policy", "conforms"]

log = logging.getLogger("radiogenomics.dashboards")

#: Largest callback request accepted (bytes), and deepest nesting of its JSON.
MAX_BODY = 2_000_000
MAX_DEPTH = 32
#: Paths whose answers hold no patient data and may be cached by the browser.
_CACHEABLE = ("_dash-component-suites/", "assets/", "_favicon.ico", "favicon.ico")


def content_security_policy(script_hashes: Iterable[str] = ()) -> str:
    """The Content-Security-Policy of the dashboards: everything from this server; inline
    scripts only when their hash is listed (Dash's renderer start-up); inline styles
    allowed (Dash and plotly.js set element styles); images also from ``data:`` and
    ``blob:`` URLs (figures, lesion slices, downloads)."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


# ---------------------------------------------------------------- property types


_WRAPPERS = tuple(
    getattr(typing, name)
    for name in ("NotRequired", "Required", "ReadOnly")
    if hasattr(typing, name)
)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def conforms(value, annotation, owner: type | None = None, depth: int = 0) -> bool:
    """Whether a JSON value fits a Dash component property's type annotation.

    Unknown or open annotations (``Any``, unresolved names, ``typing.Any`` inside
    containers) accept any value: the check rejects what is certainly wrong, never what
    might be right.
    """
    if depth > MAX_DEPTH:
        return False
    if annotation is inspect.Parameter.empty or annotation is typing.Any:
        return True
    if isinstance(annotation, typing.ForwardRef | str):
        name = (
            annotation.__forward_arg__ if isinstance(annotation, typing.ForwardRef) else annotation
        )
        resolved = getattr(owner, name, None) if owner is not None else None
        return True if resolved is None else conforms(value, resolved, owner, depth + 1)
    if annotation is type(None) or annotation is None:
        return value is None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in _WRAPPERS:  # NotRequired[X] and the like: X
        return conforms(value, args[0], owner, depth + 1) if args else True
    if origin is typing.Annotated:
        if any("Number" in getattr(meta, "__name__", type(meta).__name__) for meta in args[1:]):
            return _is_number(value)
        return conforms(value, args[0], owner, depth + 1)
    if origin is typing.Union or origin is types.UnionType:
        return any(conforms(value, arg, owner, depth + 1) for arg in args)
    if origin is typing.Literal:
        return value in args
    if annotation in (typing.SupportsFloat, typing.SupportsInt, typing.SupportsComplex):
        return _is_number(value)
    if annotation is str:
        return isinstance(value, str)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return _is_number(value)
    if annotation in (dict, typing.Dict, Mapping) or origin in (dict, Mapping):  # noqa: UP006
        if not isinstance(value, dict):
            return False
        if len(args) == 2:
            return all(conforms(v, args[1], owner, depth + 1) for v in value.values())
        return True
    if (
        isinstance(annotation, type)
        and issubclass(annotation, dict)
        and hasattr(annotation, "__total__")
    ):  # a TypedDict (of typing or typing_extensions)
        if not isinstance(value, dict):
            return False
        hints = getattr(annotation, "__annotations__", {})
        return all(conforms(v, hints[k], owner, depth + 1) for k, v in value.items() if k in hints)
    if origin in (list, tuple, Sequence, typing.Sequence) or annotation in (list, tuple, Sequence):
        if not isinstance(value, list):
            return False
        if args and origin is not tuple:
            return all(conforms(v, args[0], owner, depth + 1) for v in value)
        return True
    return True  # a type this check does not know: accept


_SIGNATURES: dict[type, Mapping[str, inspect.Parameter]] = {}


def _property_types(component_class: type) -> Mapping[str, inspect.Parameter]:
    found = _SIGNATURES.get(component_class)
    if found is None:
        try:
            found = inspect.signature(component_class.__init__).parameters
        except (TypeError, ValueError):
            found = {}
        _SIGNATURES[component_class] = found
    return found


# ---------------------------------------------------------------- callback requests


def _depth_ok(value, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and _depth_ok(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(_depth_ok(v, depth + 1) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int | bool)


def _kind(value) -> str | None:
    """The JSON kind of a value (``None`` for null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "other"


def _id_key(component_id) -> str:
    if isinstance(component_id, dict):
        return json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return str(component_id)


class BadCallback(Exception):
    """A callback request that does not fit what the app declares."""


class CallbackGuard:
    """Checks callback requests against the app's callbacks and the component types of
    its pages (see the module docstring).

    Parameters
    ----------
    app
        The Dash app (its ``callback_map`` after every callback is registered).
    layouts
        Returns the component trees of every page (read once, when a request names a
        component not seen yet), to learn which component class each id is.
    """

    def __init__(self, app, layouts: Callable[[], Iterable] | None = None):
        self.app = app
        self._layouts = layouts
        self._classes: dict[str, type] = {}
        self._kinds: dict[tuple[str, str], str] = {}
        self._walked = layouts is None
        self._lock = threading.Lock()

    # component ids -> classes
    def learn(self, tree) -> None:
        """Remember the component class of every id in a component tree."""
        stack = [tree]
        found: dict[str, type] = {}
        kinds: dict[tuple[str, str], str] = {}
        while stack:
            node = stack.pop()
            if isinstance(node, list | tuple):
                stack.extend(node)
                continue
            if not hasattr(node, "_prop_names"):
                continue
            component_id = getattr(node, "id", None)
            if component_id is not None:
                key = _id_key(component_id)
                found[key] = type(node)
                for name in getattr(node, "_prop_names", ()):
                    kind = _kind(getattr(node, name, None))
                    if kind in ("boolean", "number", "string", "array", "object"):
                        kinds[(key, name)] = kind
            for name in getattr(node, "_prop_names", ()):
                child = getattr(node, name, None)
                if isinstance(child, list | tuple) or hasattr(child, "_prop_names"):
                    stack.append(child)
        with self._lock:
            self._classes.update(found)
            self._kinds.update(kinds)

    def _class_of(self, component_id) -> type | None:
        key = _id_key(component_id)
        with self._lock:
            known = self._classes.get(key)
            walked = self._walked
            if known is None and not walked:
                self._walked = True
        if known is None and not walked:
            try:
                for tree in self._layouts():
                    self.learn(tree)
            except Exception as exc:  # noqa: BLE001 - a page that fails is checked less
                log.error("callback check could not read the pages (%s)", type(exc).__name__)
            with self._lock:
                known = self._classes.get(key)
        return known

    # the request
    def check(self, body) -> None:
        """Raise :class:`BadCallback` when ``body`` is not a request this app answers."""
        if not isinstance(body, dict):
            raise BadCallback("the request is not a JSON object")
        if not _depth_ok(body):
            raise BadCallback("the request holds values no component sends")
        output = body.get("output")
        spec = self.app.callback_map.get(output) if isinstance(output, str) else None
        if spec is None:
            raise BadCallback("no such callback")
        outputs = body.get("outputs")
        if not isinstance(outputs, dict | list):
            raise BadCallback("'outputs' is missing")
        for item in outputs if isinstance(outputs, list) else [outputs]:
            self._check_dependency(item, None, "outputs")
        changed = body.get("changedPropIds", [])
        if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
            raise BadCallback("'changedPropIds' is not a list of names")
        for part in ("inputs", "state"):
            declared = spec.get(part, [])
            sent = body.get(part, [] if part == "state" else None)
            if not isinstance(sent, list) or len(sent) != len(declared):
                raise BadCallback(f"'{part}' does not match the callback")
            for item, expected in zip(sent, declared):
                self._check_dependency(item, expected, part)

    def _check_dependency(self, item, expected, part: str) -> None:
        if isinstance(item, list):  # a pattern-matching (ALL) dependency
            for element in item:
                self._check_dependency(element, None, part)
            return
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("property"), str)
            or (not isinstance(item.get("id"), str | dict))
        ):
            raise BadCallback(f"an item of '{part}' is not an id and a property")
        if expected is not None and isinstance(item["id"], str):
            if item["id"] != expected.get("id") or item["property"] != expected.get("property"):
                raise BadCallback(f"'{part}' names another component than the callback")
        if "value" not in item:
            return
        component_class = self._class_of(item["id"])
        if component_class is None:
            return
        value = item["value"]
        parameter = _property_types(component_class).get(item["property"])
        if parameter is not None and not conforms(value, parameter.annotation, component_class):
            raise BadCallback(f"a value of '{part}' has the wrong type for its property")
        # a property the page set to text stays text (or empty), a list stays a list...,
        # unless the property holds free-form data (a dcc.Store's: objects, lists, text)
        with self._lock:
            served = self._kinds.get((_id_key(item["id"]), item["property"]))
        free_form = parameter is None or all(
            conforms(sample, parameter.annotation, component_class) for sample in ({}, [], "")
        )
        if value is not None and served is not None and not free_form and (_kind(value) != served):
            raise BadCallback(f"a value of '{part}' is not of the kind the page holds")


def install(app, server, layouts: Callable[[], Iterable] | None = None) -> CallbackGuard:
    """Add the headers and the callback check to a Dash ``app`` and its Flask ``server``."""
    from flask import Response, request

    guard = CallbackGuard(app, layouts)
    server.config.setdefault("MAX_CONTENT_LENGTH", MAX_BODY)  # no route takes more
    prefix = app.config.routes_pathname_prefix or "/"
    callback_path = f"{prefix}_dash-update-component"
    hashes: list[str] = []

    def refuse(reason: str, status: int = 400):
        log.warning("callback request refused (%s)", reason)
        return Response(
            f"Bad request: {reason}.\n", status, {"Content-Type": "text/plain; charset=utf-8"}
        )

    @server.before_request
    def check_callback():
        if request.path != callback_path or request.method != "POST":
            return None
        if request.content_length is not None and request.content_length > MAX_BODY:
            return refuse("the request is too large", 413)
        body = request.get_data(cache=True)
        if len(body) > MAX_BODY:
            return refuse("the request is too large", 413)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return refuse("the request is not JSON")
        try:
            guard.check(payload)
        except BadCallback as exc:
            return refuse(str(exc))
        return None

    @server.errorhandler(RadiogenomicsError)
    def input_error(exc):
        log.warning("request to %s refused (%s)", request.path, type(exc).__name__)
        return Response(
            f"Bad request: the input cannot be used ({type(exc).__name__}).\n",
            400,
            {"Content-Type": "text/plain; charset=utf-8"},
        )

    @server.after_request
    def headers(response):
        if not hashes:
            hashes.extend(app.csp_hashes())
        response.headers.setdefault("Content-Security-Policy", content_security_policy(hashes))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        # the page's own requests name it (the layout request); other sites learn nothing
        response.headers.setdefault("Referrer-Policy", "same-origin")
        relative = request.path[len(prefix) :] if request.path.startswith(prefix) else ""
        if not relative.startswith(_CACHEABLE):
            response.headers["Cache-Control"] = "no-store"
        if (
            request.is_secure
            or request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"
        ):
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response

    return guard
