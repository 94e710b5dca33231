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
import math
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from radiogenomics.errors import InputError

__all__ = ["add_user", "read_users", "BasicAuth", "LoginLimiter", "Decision", "is_loopback"]

_HASH_METHOD = "scrypt"


def _check_username(username: str) -> None:
    if not username or ":" in username or any(c.isspace() for c in username):
        raise InputError(
            "invalid user name",
            expected="a non-empty name without ':' or spaces",
            found=repr(username),
        )


def read_users(path: str | os.PathLike) -> dict[str, str]:
    """The users of a password file: ``{username: salted hash}``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "the password file does not exist",
            file=path,
            hint="Create it with: radiogenomics passwd FILE USERNAME",
        )
    users: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        username, sep, hashed = line.partition(":")
        if not sep or "$" not in hashed:
            raise InputError(
                "not a 'username:salted-hash' line",
                file=path,
                row=number,
                expected="lines written by radiogenomics passwd",
                found="a line without a salted hash",
            )
        users[username] = hashed
    if not users:
        raise InputError(
            "the password file has no user",
            file=path,
            hint="Add one with: radiogenomics passwd FILE USERNAME",
        )
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
        raise InputError(
            "password too short",
            expected="at least 8 characters",
            found=f"{len(password)} characters",
        )
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


class LoginLimiter:
    """Failed sign-ins counted per key (a user name, a client address), with exponential
    back-off: after ``max_failures`` failures a key is refused for ``base_delay`` seconds,
    and each further failure doubles the wait, up to ``max_delay``. A key's count is
    forgotten ``forget_after`` seconds after its last failure, or at a success.

    The table is bounded (``max_keys``; the oldest entries go first), so that a flood of
    made-up user names cannot fill the memory.
    """

    def __init__(
        self,
        max_failures: int = 5,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        forget_after: float = 900.0,
        max_keys: int = 10_000,
        clock=time.monotonic,
    ):
        self.max_failures = int(max_failures)
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self.forget_after = float(forget_after)
        self.max_keys = int(max_keys)
        self.clock = clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _delay(self, failures: int) -> float:
        if failures < self.max_failures:
            return 0.0
        return min(self.max_delay, self.base_delay * 2.0 ** (failures - self.max_failures))

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 when it may now)."""
        now = self.clock()
        with self._lock:
            entry = self._failures.get(key)
            if entry is None:
                return 0.0
            failures, last = entry
            if now - last > self.forget_after:
                del self._failures[key]
                return 0.0
            return max(0.0, last + self._delay(failures) - now)

    def failed(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            failures, last = self._failures.pop(key, (0, now))
            if now - last > self.forget_after:
                failures = 0
            self._failures[key] = (failures + 1, now)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


@dataclass(frozen=True)
class Decision:
    """The outcome of a sign-in: ``status`` 200 (accepted), 401 (wrong credentials), 429
    (too many failures: wait ``retry_after`` seconds) or 503 (too many sign-ins being
    checked at once)."""

    status: int
    retry_after: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.status == 200


class BasicAuth:
    """HTTP basic authentication of every request of a Flask server against a password file.

    - Guessing is slowed down: after repeated failures for a user name, or from a client
      address, requests are answered 429 (with ``Retry-After``) without checking the
      password, with a wait that doubles at each further failure (:class:`LoginLimiter`).
    - A wrong user name costs the same as a wrong password: an unknown name is checked
      against a dummy hash made with the same scrypt parameters, so the answer's timing
      does not tell which names exist.
    - Hashing is bounded: at most ``max_concurrent_hashes`` scrypt checks run at once (a
      request that cannot get a turn within ``hash_wait`` seconds is answered 503), and
      accepted credentials are remembered for ``cache_seconds`` as a keyed digest
      (HMAC-SHA256 of the user name and password with a secret made at start; never the
      password), so that the slow hash runs once per user, not on every callback.

    Parameters
    ----------
    path
        The password file (:func:`add_user`).
    max_failures_per_user, max_failures_per_address
        Failures before the back-off starts, per user name and per client address.
    base_delay, max_delay
        First and longest wait of the back-off (seconds).
    """

    realm = "radiogenomics"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        max_failures_per_user: int = 5,
        max_failures_per_address: int = 20,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        max_concurrent_hashes: int = 2,
        hash_wait: float = 10.0,
        cache_seconds: float = 900.0,
        cache_size: int = 1024,
        clock=time.monotonic,
    ):
        self.path = Path(path)
        self.users = read_users(self.path)
        self._key = secrets.token_bytes(32)
        self._clock = clock
        self._accepted: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._cache_seconds = float(cache_seconds)
        self._cache_size = int(cache_size)
        self._lock = threading.Lock()
        self._hashing = threading.BoundedSemaphore(max(1, int(max_concurrent_hashes)))
        self._hash_wait = float(hash_wait)
        self.users_limiter = LoginLimiter(max_failures_per_user, base_delay, max_delay, clock=clock)
        self.address_limiter = LoginLimiter(
            max_failures_per_address, base_delay, max_delay, clock=clock
        )
        # an unknown user name is checked against this, made like the users' own hashes
        method = next(iter(self.users.values())).split("$", 1)[0]
        try:
            self._dummy = generate_password_hash(secrets.token_urlsafe(16), method=method)
        except (ValueError, TypeError):
            self._dummy = generate_password_hash(secrets.token_urlsafe(16), method=_HASH_METHOD)

    def _digest(self, username: str, password: str) -> bytes:
        return hmac.new(
            self._key, f"{username}\0{password}".encode("utf-8", "surrogatepass"), hashlib.sha256
        ).digest()

    def _remembered(self, digest: bytes) -> bool:
        now = self._clock()
        with self._lock:
            entry = self._accepted.get(digest)
            if entry is None:
                return False
            if now > entry[1]:
                del self._accepted[digest]
                return False
            self._accepted.move_to_end(digest)
            return True

    def _remember(self, digest: bytes, username: str) -> None:
        with self._lock:
            self._accepted[digest] = (username, self._clock() + self._cache_seconds)
            while len(self._accepted) > self._cache_size:
                self._accepted.popitem(last=False)

    def authenticate(
        self, username: str | None, password: str | None, address: str | None = None
    ) -> Decision:
        """Check credentials, applying the back-off and the bound on hashing."""
        username = username or ""
        password = password or ""
        digest = self._digest(username, password)
        if username and self._remembered(digest):
            return Decision(200)
        user_key, address_key = f"user:{username}", f"address:{address or '-'}"

        def wait() -> float:
            return max(
                self.users_limiter.retry_after(user_key),
                self.address_limiter.retry_after(address_key),
            )

        if wait() > 0:
            return Decision(429, wait())
        if not self._hashing.acquire(timeout=self._hash_wait):
            return Decision(503, 1.0)
        try:
            # guesses queued behind others may have been locked out in the meantime
            if wait() > 0:
                return Decision(429, wait())
            stored = self.users.get(username)
            good = check_password_hash(stored if stored is not None else self._dummy, password)
            good = good and stored is not None and bool(username)
        finally:
            self._hashing.release()
        if good:
            self.users_limiter.succeeded(user_key)
            self._remember(digest, username)
            return Decision(200)
        self.users_limiter.failed(user_key)
        self.address_limiter.failed(address_key)
        return Decision(401)

    def check(self, username: str | None, password: str | None) -> bool:
        """Whether the credentials match a user of the password file (the back-off and
        hashing bound apply, with no client address)."""
        return self.authenticate(username, password).accepted

    def init_app(self, server) -> None:
        """Require authentication on every route of a Flask ``server``."""
        from flask import Response, request

        def require_auth():
            auth = request.authorization
            if auth is not None and auth.type == "basic":
                decision = self.authenticate(auth.username, auth.password, request.remote_addr)
            else:
                decision = Decision(401)
            if decision.accepted:
                return None
            text = {
                401: "Authentication required.\n",
                429: "Too many failed sign-ins: try again later.\n",
                503: "The server is busy checking sign-ins: try again.\n",
            }
            headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
            if decision.status == 401:
                headers["WWW-Authenticate"] = f'Basic realm="{self.realm}"'
            else:
                headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))
            return Response(text[decision.status], decision.status, headers)

        server.before_request(require_auth)
