"""evweb: libevent re-created in Python, with a web framework's ergonomics on top.

Layers, bottom-up: :mod:`evweb.reactor` (the event loop), then buffered IO,
HTTP, DNS and RPC. :mod:`evweb.libevent` offers libevent's own names for
people porting C code.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger("evweb").addHandler(logging.NullHandler())

__all__ = ["__version__"]
