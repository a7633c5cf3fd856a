"""The one Markdown table writer of the reports (audit and study): a DataFrame as a GitHub table, no tabulate."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd


def cell(v: Any, digits: int = 4) -> str:
    """A table cell: floats to `digits` significant digits, '–' where not finite, anything else as text."""
    if isinstance(v, (float, np.floating)):
        return "–" if not np.isfinite(v) else f"{v:.{digits}g}"
    return str(v)


def markdown_table(frame: pd.DataFrame, cols: Sequence[str] | None = None, digits: int = 4) -> str:
    """The columns `cols` of `frame` (all by default; missing ones skipped) as a GitHub Markdown table."""
    names = [c for c in (list(cols) if cols is not None else list(frame.columns)) if c in frame.columns]
    lines = ["| " + " | ".join(str(c) for c in names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(v, digits) for v in row) + " |"
              for row in frame[names].itertuples(index=False)]
    return "\n".join(lines)


__all__ = ["cell", "markdown_table"]
