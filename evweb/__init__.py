"""evweb: libevent re-created in Python, with a web framework's ergonomics on top.

Layers, bottom-up: :mod:`evweb.reactor` (the event loop), then buffered IO,
HTTP, DNS and RPC. :mod:`evweb.libevent` offers libevent's own names for
people porting C code.
"""

from __future__ import annotations

import logging
from typing import Any

__version__ = "0.1.0"

logging.getLogger("evweb").addHandler(logging.NullHandler())


def _dns_for_connects(base: Any) -> Any:
    """Connects by name resolve through evweb's own DNS (imported on first use)."""
    from evweb.dns.connect import default_connect_resolver

    return default_connect_resolver(base)


# The package root sits above the layers, so it is where they are wired: the IO
# layer (which may not import DNS) gets evweb's resolver as its default.
from evweb.io.resolve import set_default_factory  # noqa: E402

set_default_factory(_dns_for_connects)

__all__ = ["__version__"]
