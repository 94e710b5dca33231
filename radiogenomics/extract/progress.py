"""A progress bar for extraction runs: cases done, failed and from the cache, and time left.

Shown in a terminal (on standard error) and in Jupyter notebooks; quiet otherwise, so
that logs of batch jobs and CI stay readable.
"""

from __future__ import annotations

import sys

__all__ = ["progress_bar", "interactive"]


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def interactive() -> bool:
    """Whether someone is watching: standard error is a terminal, or a notebook runs us."""
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):
        pass
    return _in_notebook()


class _Quiet:
    """Stands in for a bar when nobody is watching."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, enabled: bool | None = None, desc: str = "extract", initial: int = 0):
    """A tqdm bar over ``total`` cases (a do-nothing stand-in when not enabled).

    Parameters
    ----------
    total
        Number of cases.
    initial
        Cases done already (read from the cache); not counted in the rate.
    enabled
        ``None``: show it when :func:`interactive`; ``True``/``False``: always/never.
    """
    if enabled is None:
        enabled = interactive()
    if not enabled or total == 0:
        return _Quiet()
    if _in_notebook():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm

            return tqdm(total=total, desc=desc, unit="case", initial=initial)
        except ImportError:
            pass
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="case",
        file=sys.stderr,
        dynamic_ncols=True,
        smoothing=0.1,
        initial=initial,
    )
