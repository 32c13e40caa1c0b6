"""API keys: where they come from, constant-time checks, and the owner id of a key.

A simulation belongs to the key that created it; the store keeps only the owner id (a
SHA-256 prefix of the key), never the key. Keys are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

ENV_KEYS = "EQUIHOME_API_KEYS"  # comma-separated
ANONYMOUS = "anonymous"


def owner_id(key: str) -> str:
    """Stable, non-reversible id of an API key (what the store records as owner)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class ApiKeys:
    """The accepted keys; ``open_access`` (loopback only) accepts any request as anonymous."""

    def __init__(self, keys: Iterable[str] = (), open_access: bool = False):
        self.keys = [k for k in keys if k]
        self.open_access = open_access

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
        return owner_id(match) if match is not None else None


def collect_keys(cli_keys: Iterable[str] = (), keys_file: str | None = None) -> list[str]:
    """Keys from --api-key, the EQUIHOME_API_KEYS variable and a keys file (one per line)."""
    keys = list(cli_keys)
    keys += [k.strip() for k in os.environ.get(ENV_KEYS, "").split(",") if k.strip()]
    if keys_file:
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
