"""The one polling helper of the test suite: wait for a condition, or fail naming it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str | Callable[[], str],
               interval: float = 0.02) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    At the deadline (``timeout`` seconds) raise AssertionError naming what was awaited:
    ``what``, or ``what()`` for a description of the state last seen. Never returns a value
    that did not satisfy the predicate.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout} s waiting for {text}")
        time.sleep(interval)
