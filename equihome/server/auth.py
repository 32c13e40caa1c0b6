"""API keys: where they come from, constant-time checks, and the owner id of a key.

A simulation belongs to the key that created it; the store keeps only the owner id (an
HMAC-SHA-256 of the key under the server's secret, ``dbguard.server_secret``), never the key,
so a copy of the database does not allow checking guessed keys offline. Keys are never
logged (``redact`` removes any that reach a log line).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

ENV_KEYS = "EQUIHOME_API_KEYS"  # comma-separated
ANONYMOUS = "anonymous"


log = logging.getLogger("equihome.server")


def owner_id(key: str, secret: bytes) -> str:
    """Stable, non-reversible id of an API key under the server's secret (the store's owner)."""
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()[:32]


def legacy_owner_id(key: str) -> str:
    """The owner id of earlier versions (an unsalted SHA-256 prefix), for re-keying old runs."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class ApiKeys:
    """The accepted keys; ``open_access`` (loopback only) accepts any request as anonymous.
    ``secret``: the owner-id HMAC key (random when not given: ids then last one process)."""

    def __init__(self, keys: Iterable[str] = (), open_access: bool = False,
                 secret: bytes | None = None):
        self.keys = [k for k in keys if k]
        self.open_access = open_access
        self.secret = secret if secret is not None else secrets.token_bytes(32)

    def renames(self) -> dict[str, str]:
        """{earlier owner id: owner id now} of every configured key (see ``Store.rekey_owners``)."""
        return {legacy_owner_id(k): owner_id(k, self.secret) for k in self.keys}

    def owner(self, presented: str | None) -> str | None:
        """Owner id for a presented key, or None; compares against every key in constant time."""
        if self.open_access:
            return ANONYMOUS
        if not presented:
            return None
        match = None
        for key in self.keys:
            if hmac.compare_digest(key.encode(), presented.encode()):
                match = key
        return owner_id(match, self.secret) if match is not None else None


def collect_keys(cli_keys: Iterable[str] = (), keys_file: str | None = None) -> list[str]:
    """Keys from --api-key, the EQUIHOME_API_KEYS variable and a keys file (one per line)."""
    keys = list(cli_keys)
    keys += [k.strip() for k in os.environ.get(ENV_KEYS, "").split(",") if k.strip()]
    if keys_file:
        mode = os.stat(keys_file).st_mode
        if mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IWGRP):
            log.warning("keys file %s can be read or changed by other users (mode %o); "
                        "run: chmod 600 %s", keys_file, stat.S_IMODE(mode), keys_file)
        lines = Path(keys_file).read_text(encoding="utf-8").splitlines()
        keys += [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    return keys


def generate_key() -> str:
    """A fresh random key (printed at start-up when none is configured)."""
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_KEY_IN_TEXT = re.compile(r"((?:api_key|X-Api-Key|token)[=:]\s*['\"]?)[^&\s'\",;)]+", re.I)


def redact(text: str) -> str:
    """``text`` with any API key or token in a query string or header line replaced by ***."""
    return _KEY_IN_TEXT.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    """A log filter that removes API keys from every record's final message (attach it to the
    handlers: records propagated from library loggers pass handler filters, not logger ones)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, None
        return True
