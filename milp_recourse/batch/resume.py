"""Crash-safe incremental batch output, and resuming from it.

- CSV: the header is written first, then every finished chunk is appended in one write and
  fsync'ed. Each result is exactly one line (line breaks inside text cells become spaces), so after
  a crash (SIGKILL, power loss) a torn last line is cut off on resume and every line left is a
  complete, finished individual.
- Parquet cannot be appended to: finished chunks go to a JSONL journal `<out>.journal.jsonl` beside
  the output (same one-line-per-result rule), compacted into the Parquet file at the end, after
  which the journal is removed. Resuming reads both the Parquet file (if a previous run finished)
  and the journal.
- At the end of a run the whole table is rewritten atomically (temporary file + rename) in the
  data's row order, whatever order the engine finished in.
- An existing output (or journal) without `resume` is refused before any solving; with `resume`,
  ids already in it are skipped, so no row is lost or duplicated.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from milp_recourse.errors import InputError
from milp_recourse.tables import check_output_file, read_table, require_pyarrow, table_format, write_table_atomic

JOURNAL_SUFFIX = ".journal.jsonl"


def _plain(v: Any) -> Any:
    """JSON-able scalar: numpy scalars unwrapped, NaN/inf -> None."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _one_line(v: Any) -> Any:
    return " ".join(v.splitlines()) if isinstance(v, str) else v


def _cut_torn_tail(path: Path) -> None:
    """Truncate a file to its last complete line (a crash may have cut the last write)."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        block = 1 << 16
        pos = size
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            k = chunk.rfind(b"\n")
            if k >= 0:
                fh.truncate(start + k + 1)
                return
            pos = start
        fh.truncate(0)


class ResultStore:
    """The output file of one batch run (see the module docstring for the guarantees)."""

    def __init__(self, path: str | Path, columns: Sequence[str], resume: bool) -> None:
        self.path = Path(path)
        self.fmt = table_format(self.path, "output")
        self.columns = list(columns)
        self.resume = resume
        self.journal = self.path.with_name(self.path.name + JOURNAL_SUFFIX) if self.fmt == "parquet" else None
        self._log = self.path if self.fmt == "csv" else self.journal

    def check(self) -> None:
        """Refuse to overwrite; check the folder is writable and Parquet is available. No side effects."""
        if self.fmt == "parquet":
            require_pyarrow("output")
        existing = [p for p in (self.path, self.journal) if p is not None and p.exists()]
        if existing and not self.resume:
            raise InputError(f"The output {str(existing[0])!r} already exists; pass --resume (resume=True) to "
                             "continue that run, or choose another output file. Nothing was overwritten.")
        for p in (self.path, self.journal):
            if p is not None:
                check_output_file(p, "output")

    def has_rows(self) -> bool:
        """Whether an earlier run left anything in the output (or its journal)."""
        return any(p is not None and p.exists() and p.stat().st_size > 0 for p in (self.path, self.journal))

    def load(self) -> pd.DataFrame:
        """Rows already finished by earlier runs (empty without resume); repairs a torn last line."""
        frames = []
        if self.fmt == "parquet" and self.path.exists():
            frames.append(read_table(self.path, "existing output"))
        if self._log is not None and self._log.exists():
            _cut_torn_tail(self._log)
            if self._log.stat().st_size > 0:
                if self.fmt == "csv":
                    frames.append(read_table(self._log, "existing output"))
                else:
                    with open(self._log) as fh:
                        frames.append(pd.DataFrame([json.loads(line) for line in fh if line.strip()]))
        frames = [f for f in frames if len(f.columns)]
        for f in frames:
            missing = [c for c in self.columns if c not in f.columns]
            extra = [c for c in f.columns if c not in self.columns]
            if missing or extra:
                raise InputError(f"The existing output {str(self.path)!r} does not match this run (it lacks "
                                 f"column(s) {missing} and has unexpected {extra}); resume with the same data "
                                 "and options, or choose another output file.")
        if not frames:
            return pd.DataFrame(columns=self.columns)
        return pd.concat([f[self.columns] for f in frames], ignore_index=True)

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append finished rows durably (one write + fsync)."""
        if not rows:
            return
        log = self._log
        if self.fmt == "csv":
            new = not log.exists() or log.stat().st_size == 0
            frame = pd.DataFrame([{c: _one_line(r.get(c)) for c in self.columns} for r in rows],
                                 columns=self.columns)
            text = frame.to_csv(index=False, header=new, lineterminator="\n")
        else:
            text = "".join(json.dumps({c: _plain(_one_line(r.get(c))) for c in self.columns}) + "\n"
                           for r in rows)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def finish(self, frame: pd.DataFrame) -> None:
        """Write the complete, ordered table atomically and drop the journal."""
        out = frame[self.columns].copy()
        if self.fmt == "csv":
            for c in out.columns:
                if out[c].dtype == object:
                    out[c] = out[c].map(_one_line)
        write_table_atomic(out, self.path)
        if self.journal is not None and self.journal.exists():
            self.journal.unlink()


__all__ = ["ResultStore", "JOURNAL_SUFFIX"]
