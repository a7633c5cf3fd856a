"""Temporary files beside an output, created as the user's umask says (not mkstemp's 0600), then renamed over it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TEMP_TRIES = 100


def temp_beside(path: str | os.PathLike[str], suffix: str = ".tmp") -> tuple[int, Path]:
    """A new file `.<name>.<random><suffix>` in `path`'s folder, open for writing: (descriptor, its path).

    O_CREAT | O_EXCL with an unpredictable name, as tempfile.mkstemp (a symlink planted in the folder is never
    followed), but with mode 0666 less the umask: mkstemp's 0600 left batch results, their fingerprint and exported
    models unreadable to the user's group, unlike every other output (an outside fuzz)."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(TEMP_TRIES):
        name = folder / f".{target.name}.{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {str(target)!r} after {TEMP_TRIES} tries")


__all__ = ["temp_beside"]
