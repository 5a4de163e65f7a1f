"""The stand-in ``main`` of the evweb servers that do not exist yet."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

NOT_YET = 3  # the exit status; the harness shows the server as skipped


def not_available(doc: str, *options: str) -> int:
    """Parse ``--port`` (and ``options``, each taking a value) as the real server
    will, then say why there is no server: the harness shows the last line."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    for opt in options:
        ap.add_argument(opt, type=Path, required=True)
    ap.parse_args()
    print("evweb HTTP server not available yet", file=sys.stderr)
    return NOT_YET
