"""The access log: one line per request on ``evweb.http.access``, combined log format.

``host - - [day/Mon/year:HH:MM:SS +0000] "METHOD target HTTP/x.y" status bytes "referer" "agent"``,
the format Apache and nginx call *combined*, so log tools read it as is.
Formatting happens only when the logger is enabled for INFO.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evweb.http.request import Request

log = logging.getLogger("evweb.http.access")

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _timestamp(now: float) -> str:
    t = time.gmtime(now)
    day = f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}"
    return f"{day}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def _quoted(value: str | None) -> str:
    if not value:
        return '"-"'
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_line(req: Request, peer: Any, now: float | None = None) -> str:
    """The combined-format line for ``req`` from ``peer``."""
    host = peer[0] if isinstance(peer, tuple) and peer else (peer or "-")
    version = f"HTTP/{req.version[0]}.{req.version[1]}"
    request_line = _quoted(f"{req.method} {req.target} {version}")
    sent = req.bytes_sent if req.bytes_sent else "-"
    return (
        f"{host} - - [{_timestamp(time.time() if now is None else now)}] "
        f"{request_line} {req.status} {sent} "
        f"{_quoted(req.headers.get('referer'))} {_quoted(req.headers.get('user-agent'))}"
    )


def log_request(req: Request, peer: Any) -> None:
    """Emit the access-log line for ``req``."""
    log.info("%s", format_line(req, peer))
