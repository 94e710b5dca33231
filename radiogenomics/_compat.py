"""Old argument names and values that keep working for one release, with a ``FutureWarning``.

The API conventions (``CONTRIBUTING.md``) renamed a few arguments across the package:
``seed`` became ``random_state``, ``n_threads`` and ``n_workers`` became ``n_jobs``,
``missing="raise"`` became ``missing="error"``, and the modality argument is ``mod``.
:func:`renamed` maps an old keyword onto its new name and warns; :func:`legacy_value`
maps an old value onto the new one and warns.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["legacy_value", "renamed"]

F = TypeVar("F", bound=Callable[..., Any])

REMOVED_IN = "0.3"


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
                        stacklevel=2,
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
