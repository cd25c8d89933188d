"""``casewatch anchors --config center.yaml``: the hub's anchors this agent kept, one per line.

An anchor is the hub's event log head signed with the hub's key (protocol/anchor.py); agents keep
the latest of each day in their outbox file, off the hub's disk. Hand the output to
``casewatch hub verify --anchor FILE`` to check the hub's log against it.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click

from casewatch.exits import EXIT_FAILED


@click.command("anchors")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path), help="center-*.yaml")
def anchors(config_path: Path) -> None:
    """列出本代理保存的中心日志锚点 (print the hub's log anchors this agent kept, for hub verify)."""
    from casewatch.cli import _load_or_exit

    cfg = _load_or_exit(config_path, "agent")
    path = Path(cfg.storage.dir) / "outbox.db"
    if not path.is_file():
        click.echo(f"✗ {path} does not exist: this agent has not run here", err=True)
        sys.exit(EXIT_FAILED)
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT anchor FROM anchors ORDER BY day").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        click.echo(f"✗ {path}: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if not rows:
        click.echo("✗ 尚未收到中心锚点 (no anchor kept yet: has this agent reached the hub?)", err=True)
        sys.exit(EXIT_FAILED)
    for (anchor,) in rows:
        click.echo(anchor)
