#!/usr/bin/env python3
"""evweb peer of bench/http_server.py's static download test (placeholder).

GET /NAME -> 200 and the bytes of the regular file DIR/NAME (``--root DIR``) with a
Content-Length, keep-alive, on 127.0.0.1:``--port``; the contract every server
follows is in bench/README.md.  Exits with status 3 until evweb's HTTP server
exists; the harness shows it as skipped.
"""
import sys

from _placeholder import not_available

if __name__ == "__main__":
    sys.exit(not_available(__doc__, "--root"))
