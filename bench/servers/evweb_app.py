#!/usr/bin/env python3
"""evweb peer of bench/http_server.py on evweb's application (web framework) API.

A placeholder: the same GET / "Hello, World!" server as evweb_lowlevel.py (see the
contract in bench/README.md), to be written as an evweb app with one route.  Exits with
status 3 until evweb's HTTP server exists; the harness shows it as skipped.
"""
import sys

from _placeholder import not_available

if __name__ == "__main__":
    sys.exit(not_available(__doc__))
