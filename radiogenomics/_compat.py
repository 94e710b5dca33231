"""Old argument names and values that keep working for one release, with a ``FutureWarning``.

The API conventions (``CONTRIBUTING.md``) renamed a few arguments across the package:
``seed`` became ``random_state``, ``n_threads`` and ``n_workers`` became ``n_jobs``,
``missing="raise"`` became ``missing="error"``, and the modality argument is ``mod``.
:func:`renamed` maps an old keyword onto its new name and warns; :func:`legacy_value`
maps an old value onto the new one and warns; :func:`keyword_only` makes the modality
(``mod=``) and the survival columns (``time=``, ``event=``) keywords, and warns on a call
that still passes them by position.
"""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["keyword_only", "legacy_value", "renamed"]

F = TypeVar("F", bound=Callable[..., Any])

REMOVED_IN = "0.3"


def _stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside this module: the user's call, however
    many of these wrappers a tool has."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


def renamed(**old_to_new: str) -> Callable[[F], F]:
    """Accept old keyword names for one release: ``@renamed(seed="random_state")``.

    A call with an old name warns (``FutureWarning``) and passes the value on under the new
    name; a call that gives both names is a ``TypeError``.

    Examples
    --------
    >>> import warnings
    >>> @renamed(seed="random_state")
    ... def draw(n, random_state=0):
    ...     return random_state
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     draw(3, seed=7)
    7
    >>> caught[0].category.__name__
    'FutureWarning'
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{func.__name__}() got both {old!r} and its new name "
                            f"{new!r}; give {new!r} only"
                        )
                    warnings.warn(
                        f"{func.__name__}(): the argument {old!r} is now {new!r}; "
                        f"{old!r} goes in radiogenomics {REMOVED_IN}",
                        FutureWarning,
                        stacklevel=_stacklevel(),
                    )
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        wrapper.__renamed_arguments__ = dict(old_to_new)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def legacy_value(name: str, value: Any, old_to_new: Mapping[Any, Any], func: str) -> Any:
    """The new spelling of an argument's old value, with a ``FutureWarning``.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     legacy_value("missing", "raise", {"raise": "error"}, "scale")
    'error'
    >>> legacy_value("missing", "error", {"raise": "error"}, "scale")
    'error'
    """
    if isinstance(value, str | int | float | bool | type(None)) and value in old_to_new:
        new = old_to_new[value]
        warnings.warn(
            f"{func}(): {name}={value!r} is now {name}={new!r}; the old value goes "
            f"in radiogenomics {REMOVED_IN}",
            FutureWarning,
            stacklevel=3,
        )
        return new
    return value


def keyword_only(first: str) -> Callable[[F], F]:
    """Make ``first`` and every parameter after it keyword-only, warning for one release.

    The function keeps its old parameter order, so an old call that passes ``first`` (or
    a later parameter) by position still works and gets the same values, with a
    ``FutureWarning`` naming the parameters to pass by keyword. The signature shown by
    ``help`` and :func:`inspect.signature` is the new one, with ``first`` onwards after
    ``*``.

    Examples
    --------
    >>> import warnings
    >>> @keyword_only("time")
    ... def km(mdata, time=None, event=None):
    ...     return time, event
    >>> km("cohort", time="os_months", event="os_event")
    ('os_months', 'os_event')
    >>> import inspect
    >>> str(inspect.signature(km))
    '(mdata, *, time=None, event=None)'
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     km("cohort", "os_months", "os_event")
    ('os_months', 'os_event')
    >>> print(caught[0].message)
    km(): pass time=, event= by keyword; positional use goes in radiogenomics 0.3
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)
        names = list(signature.parameters)
        if first not in names:
            raise TypeError(f"{func.__name__}() has no parameter {first!r}")
        start = names.index(first)
        parameters = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            if i >= start and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
            else p
            for i, p in enumerate(signature.parameters.values())
        ]

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if len(args) > start:
                given = ", ".join(f"{name}=" for name in names[start : len(args)])
                warnings.warn(
                    f"{func.__name__}(): pass {given} by keyword; positional use goes in "
                    f"radiogenomics {REMOVED_IN}",
                    FutureWarning,
                    stacklevel=_stacklevel(),
                )
            return func(*args, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__keyword_only__ = first  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
