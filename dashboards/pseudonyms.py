"""The secret that orders a results folder's pseudonyms.

Pseudonyms (``PT-001``, ...) are the ranks of a keyed hash of the patient IDs; whoever
knows the key and the IDs can undo them, so the key must not be a constant. Each results
folder gets its own random key, made the first time its dashboards are served with
pseudonyms and kept in ``.radiogenomics-pseudonym-key`` inside the folder (readable by
its owner only), so that pseudonyms stay the same across restarts. ``--pseudonym-key``
(or ``RADIOGENOMICS_PSEUDONYM_KEY``) overrides it.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from radiogenomics.errors import InputError

__all__ = ["KEY_FILE", "folder_key"]

KEY_FILE = ".radiogenomics-pseudonym-key"
log = logging.getLogger("radiogenomics.dashboards")


def _read(file: Path) -> str:
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & 0o077:  # readable by others: tighten, the key is a secret
        os.chmod(file, 0o600)
    key = file.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise InputError(
            "the pseudonym key file is damaged",
            file=file,
            expected="a random key of 64 hexadecimal digits",
            found=f"{len(key)} characters",
            hint="Delete it to make a new key (the pseudonyms then change)",
        )
    return key


def folder_key(path: str | os.PathLike) -> str:
    """The pseudonym key of a results folder (or of the folder of a ``.h5mu`` file): read
    from its key file, or made at random and written there with mode 600.

    When the folder cannot be written, a random key is used for this run only (logged):
    the pseudonyms are then new at each start.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    file = folder / KEY_FILE
    if file.is_file():
        return _read(file)
    key = secrets.token_hex(32)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made at the same moment by another server
        return _read(file)
    except OSError as exc:
        log.warning(
            "cannot store the pseudonym key in the results folder (%s): "
            "pseudonyms change at each start",
            type(exc).__name__,
        )
        return key
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key
