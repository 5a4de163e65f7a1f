"""Fixtures for the reactor tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def callbacks_must_not_fail() -> Iterator[None]:
    """evweb logs a callback's (or watcher's) exception and loops on; here that fails the test.

    Without it, an assert inside a callback would only be logged.
    """
    handler = _ErrorLog()
    logger = logging.getLogger("evweb")
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)
    if handler.records:
        pytest.fail("a callback raised:\n" + "\n".join(handler.format(r) for r in handler.records))
