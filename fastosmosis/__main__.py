"""``python -m fastosmosis``: the same as the ``fastosmosis`` command."""

from .cli import entry_point

raise SystemExit(entry_point())
