"""``python -m evweb``: the evweb command."""

from evweb.cli import main

raise SystemExit(main())
