"""Access control: a password file of salted hashes and HTTP basic authentication.

The password file holds one ``username:hash`` line per user, where the hash is a salted
scrypt hash made by :func:`werkzeug.security.generate_password_hash`; no password is ever
stored or logged in plain text. Create or update it with :func:`add_user` (or
``radiogenomics passwd FILE USERNAME``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import threading
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from radiogenomics.errors import InputError

__all__ = ["add_user", "read_users", "BasicAuth", "is_loopback"]

_HASH_METHOD = "scrypt"


def _check_username(username: str) -> None:
    if not username or ":" in username or any(c.isspace() for c in username):
        raise InputError("invalid user name", expected="a non-empty name without ':' or spaces",
                         found=repr(username))


def read_users(path: str | os.PathLike) -> dict[str, str]:
    """The users of a password file: ``{username: salted hash}``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("the password file does not exist", file=path,
                         hint="Create it with: radiogenomics passwd FILE USERNAME")
    users: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        username, sep, hashed = line.partition(":")
        if not sep or "$" not in hashed:
            raise InputError("not a 'username:salted-hash' line", file=path, row=number,
                             expected="lines written by radiogenomics passwd",
                             found="a line without a salted hash")
        users[username] = hashed
    if not users:
        raise InputError("the password file has no user", file=path,
                         hint="Add one with: radiogenomics passwd FILE USERNAME")
    return users


def add_user(path: str | os.PathLike, username: str, password: str) -> Path:
    """Add a user to a password file (or change their password), storing a salted hash.

    The file is created when absent, written atomically and readable by its owner only.

    Parameters
    ----------
    path
        The password file.
    username
        User name (no ``:`` and no white space).
    password
        The password; at least 8 characters.

    Returns
    -------
    pathlib.Path
    """
    _check_username(username)
    if len(password) < 8:
        raise InputError("password too short", expected="at least 8 characters",
                         found=f"{len(password)} characters")
    path = Path(path)
    users = read_users(path) if path.is_file() and path.stat().st_size else {}
    users[username] = generate_password_hash(password, method=_HASH_METHOD)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("# radiogenomics dashboard users: username:salted scrypt hash\n")
        for name, hashed in users.items():
            handle.write(f"{name}:{hashed}\n")
    os.replace(tmp, path)
    return path


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BasicAuth:
    """HTTP basic authentication of every request of a Flask server against a password file.

    Checked credentials are remembered (as a keyed digest, never the password) so that the
    slow salted hash runs once per user and password, not on every callback.
    """

    realm = "radiogenomics"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.users = read_users(self.path)
        self._key = secrets.token_bytes(32)
        self._accepted: set[bytes] = set()
        self._lock = threading.Lock()

    def check(self, username: str | None, password: str | None) -> bool:
        """Whether the credentials match a user of the password file."""
        if not username or password is None or username not in self.users:
            return False
        digest = hmac.new(self._key, f"{username}\0{password}".encode(), hashlib.sha256).digest()
        with self._lock:
            if digest in self._accepted:
                return True
        if check_password_hash(self.users[username], password):
            with self._lock:
                self._accepted.add(digest)
            return True
        return False

    def init_app(self, server) -> None:
        """Require authentication on every route of a Flask ``server``."""
        from flask import Response, request

        def require_auth():
            auth = request.authorization
            if auth is None or auth.type != "basic" or not self.check(auth.username,
                                                                        auth.password):
                return Response("Authentication required.\n", 401,
                                {"WWW-Authenticate": f'Basic realm="{self.realm}"',
                                 "Content-Type": "text/plain; charset=utf-8"})
            return None

        server.before_request(require_auth)
