#!/usr/bin/env python3
"""evweb peer of bench/http_server.py on evweb's low-level HTTP API (placeholder).

GET / -> 200 ``Hello, World!``, text/plain, keep-alive, on 127.0.0.1:``--port``;
the contract every server follows is in bench/README.md.  evweb's HTTP server does
not exist yet, so this exits with status 3 and the harness shows it as skipped.
"""
import sys

from _placeholder import not_available

if __name__ == "__main__":
    sys.exit(not_available(__doc__))
