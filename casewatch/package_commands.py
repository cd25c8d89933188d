"""``casewatch package verify ARCHIVE [--config hub.yaml]``: check a person's package offline.

The archive the console downloads (hub/packages.py) carries a manifest with every file's size and
sha256, signed with the hub's key. Without ``--config`` every file is checked against the
manifest (a flipped byte, a file added, removed or renamed is found) but not the signature; with
the hub's configuration its key (and retired keys) check the signature too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from casewatch.exits import EXIT_FAILED


@click.group("package")
def package() -> None:
    """人员/案件打包 (a person's package of recordings and records)."""


@package.command("verify")
@click.argument("archive", type=click.Path(path_type=Path, exists=True))
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="hub.yaml: its key")
def verify(archive: Path, config_path: Path | None) -> None:
    """校验打包文件：清单、每个文件的哈希与签名 (verify the manifest, every file's hash, the signature)."""
    from hub.package_manifest import verify as verify_archive

    keys: list[bytes] = []
    if config_path is not None:
        from casewatch.cli import _load_or_exit

        keys = _load_or_exit(config_path, "hub").signing.verify_keys()
    verdict = verify_archive(archive, keys)
    manifest = verdict.manifest
    if manifest:
        chain = manifest.get("chain")
        row = chain.get("pos") if isinstance(chain, dict) else None
        click.echo(f"package {manifest.get('package')} · person {manifest.get('person')} · "
                   f"centre {manifest.get('center')} · log row {row}")  # fmt: skip
    click.echo(f"files checked: {verdict.checked_files} · signature: {verdict.signature}")
    if verdict.manifest_sha256:  # compare with the package.built row of the hub's log
        click.echo(f"manifest sha256: {verdict.manifest_sha256}")
    for problem in verdict.problems:
        click.echo(f"✗ {problem}", err=True)
    if not verdict.ok:
        click.echo("✗ 打包文件校验失败 (the package does not verify)", err=True)
        sys.exit(EXIT_FAILED)
    click.echo("✓ 打包文件完整 (every file matches the manifest)")
