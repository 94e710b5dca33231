"""Writing files whole or not at all."""

from __future__ import annotations

import errno
import glob
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

__all__ = ["atomic_path", "pid_alive", "remove_stale_temporaries"]


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
            os.unlink(name)
            removed.append(Path(name))
        except OSError:
            pass
    return removed


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside ``path`` that replaces ``path`` when the block succeeds.

    Write to the yielded path inside the ``with`` block; on success it is renamed onto
    ``path`` (atomic on one file system), on any error it is removed and ``path`` is left
    as it was. ``suffix`` ends the temporary name (``.nii.gz`` for writers that read the
    format from the name). The temporary is ``.<name>.<pid>-<random><suffix>`` in the
    target's folder; temporaries of killed writers are removed on the next write.

    Raises
    ------
    OutputError
        When the file cannot be written (full disk, no permission): the message names it.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=suffix,
                                        dir=path.parent)
        os.close(handle)
        tmp = Path(name)
        yield tmp
        os.replace(tmp, path)
    except OutputError:
        raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        hint = ("Free some space, or write to another disk" if exc.errno in
                (errno.ENOSPC, errno.EDQUOT) else None)
        raise OutputError("cannot write the file", file=path, found=reason, hint=hint) from None
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()
