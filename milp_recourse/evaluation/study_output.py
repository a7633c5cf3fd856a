"""The study's output folder, checked before any solving and written all at once.

prepare() refuses an existing folder unless overwrite is set and proves the parent is writable by
creating a hidden staging folder next to it; the report is written there, then commit() swaps it into
place (an overwritten folder is removed only after that), and discard() removes it on any failure, so a
failed or interrupted study leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from milp_recourse.errors import InputError


@dataclass(frozen=True)
class Staging:
    """Where the results go (`out`), the staging folder being written, and parent folders created for it."""

    out: Path
    folder: Path
    created: tuple[Path, ...]


def _missing_parents(path: Path) -> list[Path]:
    missing = []
    p = path.parent
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    return missing


def prepare(out: str | Path, overwrite: bool = False) -> Staging:
    """Check `out` and create the staging folder next to it; InputError (nothing left behind) if impossible."""
    out = Path(out).absolute()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} exists and is not a folder; give a folder path.")
    if out.exists() and not overwrite:
        raise InputError(f"The output folder {str(out)!r} already exists; pass --overwrite to replace it, or "
                         "choose another --out.")
    missing = _missing_parents(out)
    try:
        for p in reversed(missing):
            p.mkdir()
        folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        _remove_created(tuple(missing))
        raise InputError(f"Cannot write the output folder {str(out)!r}: {exc.strerror or exc}. Choose a writable "
                         "--out.") from None
    return Staging(out, folder, tuple(missing))


def _remove_created(created: tuple[Path, ...]) -> None:
    for p in created:   # innermost first
        try:
            p.rmdir()
        except OSError:
            pass


def discard(staging: Staging) -> None:
    """Remove the staging folder and the parent folders prepare() created (if still empty)."""
    shutil.rmtree(staging.folder, ignore_errors=True)
    _remove_created(staging.created)


def commit(staging: Staging) -> Path:
    """Move the finished staging folder to `out` (replacing an existing one only now) and return `out`."""
    out = staging.out
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
    try:
        os.replace(staging.folder, out)
    except OSError:
        if old is not None:
            os.replace(old / out.name, out)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out
