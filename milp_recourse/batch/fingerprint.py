"""What produced a batch results file: a fingerprint kept in a sidecar `<out>.meta.json`.

The sidecar is written before the first row. `--resume` compares the fingerprint of the new run with
it and refuses a mismatch (naming each differing input), so rows of two different runs never mix.
The fingerprint holds content hashes of the SCM spec, the classifier (file hash or recipe name) and
the profiles, the base constraints / preferences / cost / solve options, and the package
version. The data is checked row by row instead (ids and columns, see run.py), so a resumed run may
take a longer --limit. How the work is spread (engine, workers, chunks, progress) is not part of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.files import temp_beside

META_SUFFIX = ".meta.json"
FORMAT = 1
# options that only say how the work is spread, not what is computed
IGNORED_OPTIONS = ("tighten_threads", "stage_threads")


def meta_path(out: str | Path) -> Path:
    """The sidecar of a results file: `<out>.meta.json` beside it."""
    p = Path(out)
    return p.with_name(p.name + META_SUFFIX)


def package_version() -> str:
    """The installed milp_recourse version ('unknown' when run from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("milp_recourse")
    except PackageNotFoundError:
        return "unknown"


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def plain(value: Any) -> Any:
    """A JSON-able, order-stable copy of options (dataclasses, mappings, tuples, numpy values)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in IGNORED_OPTIONS}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return repr(value)


def _digest(obj: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()


def classifier_source(classifier: Any) -> str:
    """'recipe:NAME', 'file sha256:...' for a path, else a hash of the pickled object."""
    if isinstance(classifier, (str, Path)):
        text = str(classifier)
        if text.startswith("recipe:"):
            return text
        return f"file {file_hash(text)}" if Path(text).is_file() else text
    import pickle

    try:
        return "object sha256:" + hashlib.sha256(pickle.dumps(classifier, protocol=4)).hexdigest()
    except Exception:  # noqa: BLE001 - an unpicklable object can still be named by its type
        return f"object {type(classifier).__name__}"


def table_source(table: Any) -> Any:
    """A profiles source: file hash, generator name, or a hash of a DataFrame's content."""
    if table is None:
        return None
    if isinstance(table, (str, Path)):
        text = str(table)
        if text.startswith("generator:"):
            return text
        return file_hash(text) if Path(text).is_file() else text
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        h = pd.util.hash_pandas_object(table, index=False).to_numpy()
        cols = "|".join(map(str, table.columns))
        return "frame sha256:" + hashlib.sha256(h.tobytes() + cols.encode()).hexdigest()
    return repr(table)


def build_fingerprint(*, scm_spec: Mapping[str, Any], classifier: Any, profiles: Any,
                      inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The fingerprint of one batch run (`inputs`: id column, profile seed, maps, base options...)."""
    return {"format": FORMAT, "package_version": package_version(), "scm": _digest(plain(scm_spec)),
            "classifier": classifier_source(classifier),
            "profiles": table_source(profiles), **{k: plain(v) for k, v in inputs.items()}}


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: obj}


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """'name: old -> new' for each differing entry (nested options by dotted name)."""
    a, b = _flat(dict(old)), _flat(dict(new))
    return [f"{k}: {json.dumps(a.get(k, '(absent)'))} -> {json.dumps(b.get(k, '(absent)'))}"
            for k in sorted(set(a) | set(b)) if a.get(k, "(absent)") != b.get(k, "(absent)")]


def read_meta(out: str | Path) -> dict[str, Any] | None:
    """The sidecar's fingerprint, None when there is none; InputError when it is unreadable."""
    path = meta_path(out)
    if not path.exists():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"The results fingerprint {str(path)!r} is unreadable ({exc}); it cannot be checked. "
                         "Choose another output file.") from None
    if not isinstance(meta, dict) or "fingerprint" not in meta:
        raise InputError(f"The results fingerprint {str(path)!r} is not a milp_recourse fingerprint.")
    return meta["fingerprint"]


def check_resume(out: str | Path, fingerprint: Mapping[str, Any], has_rows: bool) -> None:
    """Refuse to resume an output made by other inputs (or one without a fingerprint). No side effects."""
    if not has_rows:  # nothing to mix with: the new run's fingerprint replaces any stale one
        return
    old = read_meta(out)
    if old is None:
        raise InputError(f"The existing output {str(out)!r} has no fingerprint {str(meta_path(out))!r}, so "
                         "whether it was made with these inputs cannot be checked; choose another output file. "
                         "Nothing was written.")
    diff = differences(old, fingerprint)
    if diff:
        raise InputError(f"The existing output {str(out)!r} was produced by other inputs; --resume would mix two "
                         f"runs. Differences (before -> now): {'; '.join(diff)}. Resume with the same inputs, or "
                         "choose another output file. Nothing was written.")


def write_meta(out: str | Path, fingerprint: Mapping[str, Any]) -> None:
    """Write the sidecar atomically (temporary file in the same folder, then rename)."""
    path = meta_path(out)
    text = json.dumps({"fingerprint": fingerprint}, indent=2, sort_keys=True) + "\n"
    fd, tmp = temp_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["META_SUFFIX", "meta_path", "build_fingerprint", "check_resume", "write_meta", "read_meta",
           "differences", "file_hash"]
