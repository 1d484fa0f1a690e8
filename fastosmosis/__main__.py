"""``python -m fastosmosis``: the same as the ``fastosmosis`` command."""

from .cli import main

raise SystemExit(main())
