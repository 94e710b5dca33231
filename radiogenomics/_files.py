"""Writing files whole or not at all."""

from __future__ import annotations

import errno
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

__all__ = ["atomic_dir", "atomic_path", "atomic_write", "pid_alive", "remove_stale_temporaries"]


def pid_alive(pid: int) -> bool:
    """Whether a process of this number runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporaries of ``path`` left by writers that were killed (``kill -9``, a crash).

    :func:`atomic_path` names its temporary ``.<name>.<pid>-<random><suffix>`` beside the
    target; one whose process no longer runs on this machine is stale. Returns the
    removed files.
    """
    path = Path(path)
    prefix = f".{path.name}."
    pattern = re.compile(re.escape(prefix) + r"(\d+)-")
    removed = []
    for name in glob.glob(glob.escape(str(path.parent / prefix)) + "*"):
        match = pattern.match(os.path.basename(name))
        if match is None or pid_alive(int(match.group(1))):
            continue
        try:
            if os.path.isdir(name) and not os.path.islink(name):
                shutil.rmtree(name)
            else:
                os.unlink(name)
            removed.append(Path(name))
        except OSError:
            pass
    return removed


def _output_error(exc: OSError, path: Path) -> OutputError:
    reason = exc.strerror or str(exc)
    hint = (
        "Free some space, or write to another disk"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT)
        else None
    )
    return OutputError("cannot write the file", file=path, found=reason, hint=hint)


def _new_file(path: Path, suffix: str) -> Path:
    handle, name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}-", suffix=suffix, dir=path.parent
    )
    os.close(handle)
    return Path(name)


@contextmanager
def _guarded(
    path: Path, make: Callable[[], Path], discard: Callable[[Path], object]
) -> Iterator[Path]:
    """A temporary made by ``make`` beside ``path``: discarded unless renamed away, and any
    OSError on the way turned into an :class:`OutputError` naming ``path``."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        tmp = make()
        yield tmp
    except OutputError:
        raise
    except OSError as exc:
        raise _output_error(exc, path) from None
    finally:
        if tmp is not None and tmp.exists():
            discard(tmp)


@contextmanager
def atomic_path(
    path: str | os.PathLike, suffix: str = ".tmp", mode: int | None = None
) -> Iterator[Path]:
    """A temporary file beside ``path`` that replaces ``path`` when the block succeeds.

    Write to the yielded path inside the ``with`` block; on success it is renamed onto
    ``path`` (atomic on one file system), on any error it is removed and ``path`` is left
    as it was. ``suffix`` ends the temporary name (``.nii.gz`` for writers that read the
    format from the name). The temporary is ``.<name>.<pid>-<random><suffix>`` in the
    target's folder; temporaries of killed writers are removed on the next write.
    ``mode`` sets the file's permissions before it is renamed (``0o600`` for secrets;
    the temporary is created readable by its owner only).

    Raises
    ------
    OutputError
        When the file cannot be written (full disk, no permission): the message names it.
    """
    path = Path(path)
    with _guarded(path, lambda: _new_file(path, suffix), Path.unlink) as tmp:
        yield tmp
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)


def atomic_write(
    path: str | os.PathLike, data: str | bytes, encoding: str = "utf-8", mode: int | None = None
) -> Path:
    """Write ``data`` (text or bytes) to ``path`` whole or not at all; returns ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(folder / "note.txt", "hello").read_text()
    'hello'
    """
    path = Path(path)
    with atomic_path(path, mode=mode) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding=encoding)
    return path


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``path`` that replaces the folder ``path`` on success.

    Fill the yielded folder inside the ``with`` block. On success an existing ``path`` is
    moved aside, the new folder renamed into place and the old one removed; on any error
    the temporary folder is removed and ``path`` is left as it was. Temporaries of killed
    writers (``.<name>.<pid>-<random>``) are removed on the next write.

    Raises
    ------
    OutputError
        When the folder cannot be written: the message names it.
    """
    path = Path(path)
    with _guarded(
        path,
        lambda: Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}-", dir=path.parent)),
        lambda tmp: shutil.rmtree(tmp, ignore_errors=True),
    ) as tmp:
        yield tmp
        if path.exists():
            old = Path(
                tempfile.mkdtemp(
                    prefix=f".{path.name}.{os.getpid()}-", suffix=".old", dir=path.parent
                )
            )
            os.rmdir(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
