"""The hub's errors, under the project's root ``CasewatchError`` (tree in ``protocol.errors``).

A module of its own so that ``hub.store`` and ``hub.migrations`` can both raise ``StoreError``
without importing each other.
"""

from __future__ import annotations

from protocol.errors import CasewatchError


class StoreError(CasewatchError):
    """The hub's event store cannot be used: not a store, too new a schema, disk full, permissions.

    Every ``sqlite3.Error`` of the store is translated into this, with the file's path in the
    message, in ``hub.store`` and ``hub.migrations`` only.
    """


class LeaseLost(StoreError):
    """A worker of a multi-centre hub wrote a centre whose lease it no longer holds: refused whole."""


class HttpError(CasewatchError):
    """The hub's HTTP API cannot serve: its port is taken or not allowed."""
