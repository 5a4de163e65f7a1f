"""Exceptions of the listener and of the socket helpers (:mod:`evweb.io.listener`, :mod:`.sockets`).

They live here until they move into :mod:`evweb.errors`; import them from
:mod:`evweb.io.listener` or :mod:`evweb.io.sockets`, which re-export them.
Where they sit in the tree::

    EvwebError
    ├── ConfigError (also ValueError)
    │   ├── AddressError                  a socket address string cannot be parsed
    │   └── ListenerConfigError           a listener cannot be built as asked (backlog 0
    │                                     with bind, SO_REUSEADDR on a Unix socket, ...)
    └── ReactorError
        └── ListenerStateError (RuntimeError)  operation not allowed on a closed listener

Errors reported by the kernel (``bind`` finding the address in use, ``listen``
failing, ...) are not wrapped: the :class:`OSError` propagates unchanged.
"""

from __future__ import annotations

from evweb.errors import ConfigError, ReactorError


class AddressError(ConfigError):
    """A socket address string is malformed or its port is out of range.

    ``text`` is the string that was refused.
    """

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid socket address {text!r}: {reason}")
        self.text = text


class ListenerConfigError(ConfigError):
    """The listener cannot be created with these arguments; the message names the culprit."""


class ListenerStateError(ReactorError, RuntimeError):
    """The operation is not allowed in the listener's current state (it is closed)."""
