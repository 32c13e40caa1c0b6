"""What guards a server's database file: one writer at a time, and the owner-id secret.

* :class:`ServerLock`: an exclusive ``flock`` on ``DB.lock`` held for the server's life, with
  the holder's pid written in it; a second server on the same database refuses to start and
  names the first (two servers would both run the same queued simulations).
* :func:`server_secret`: the key of the HMAC that turns an API key into its owner id, kept
  in ``DB.secret`` (0600) beside the database, so the database alone does not let anyone
  test guessed keys offline.
"""

from __future__ import annotations

import fcntl
import os
import secrets

from equihome.server.store import StoreError

SECRET_BYTES = 32


class ServerLock:
    """An exclusive lock on ``{db}.lock`` (none for ``:memory:``); :meth:`release` frees it."""

    def __init__(self, db: str) -> None:
        self.path = None if db == ":memory:" else f"{db}.lock"
        self.fd: int | None = None
        if self.path is None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(f"database {db!r} is in use by another equihome server (pid "
                             f"{holder}); stop that server or give this one another --db") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        """Free the lock (idempotent)."""
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def server_secret(db: str) -> bytes:
    """The owner-id HMAC key of the database ``db``: read from ``{db}.secret``, created (0600)
    on first use; a fresh random one for ``:memory:``."""
    if db == ":memory:":
        return secrets.token_bytes(SECRET_BYTES)
    path = f"{db}.secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, "rb") as f:
            data = bytes.fromhex(f.read().decode("ascii").strip())
        if len(data) < 16:
            raise StoreError(f"{path!r} does not hold a valid secret; remove it only together "
                             "with the database (owner ids depend on it)") from None
        return data
    secret = secrets.token_bytes(SECRET_BYTES)
    with os.fdopen(fd, "w") as f:
        f.write(secret.hex() + "\n")
    return secret
