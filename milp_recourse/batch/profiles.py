"""Per-person actionability profiles: a table keyed by individual id, or a named generator for studies.

Table format (CSV/Parquet/DataFrame, one row per person; every column but the id is optional and an
empty cell means "not set: use the run's default"):

  id (or the --id-column name)  the individual's id (without an id column in the data: its 0-based row)
  actionable     features the person can act on, ';'-separated ("E;L"); "none" = nothing at all
  max_changes    at most this many features intervened on (integer >= 0)
  bounds.X       "LOW:HIGH" bounds on the new value of X (either side may be empty: ":5")
  direction.X    "up" or "down"
  grid.X         allowed new values of X: "V1|V2|...", one value "V", or "LOW:HIGH:COUNT" (categorical / ordinal
                 X: level names, "Sales|Craft", or codes)
  weight.X       cost weight of X (number >= 0)
  ranking        features from easiest to hardest, ';'-separated ("E;L;I;S")
  score.X        difficulty score of X (number > 0; larger = harder)
  preferred.X    "LOW:HIGH" preferred range of X (cost penalty outside)

A row sets weights, a ranking or scores, not two of them; rankings and scores become weights with the
run's `ranking_map` / `score_map` (see preferences.py) over the person's actionable features (ranking
and score entries of features the person cannot act on are ignored; the ranking keeps its order).
Merge with the run's base constraints: `actionable`, `max_changes` and the weights replace the base;
bounds, directions, grids and preferred ranges are merged feature by feature (the profile wins).
Individuals without a profile row get the base. Unknown columns, unknown or immutable features,
duplicated or unknown ids are errors raised before any solving.

Generators (`generator:NAME`, seeded per id so results do not depend on order, chunking or --limit):
  universal      everyone the base actionability (the spec's actionable features by default)
  hard-subsets   a random non-empty subset of the actionable features (size uniform in 1..K)
  soft-ranking   a random ranking of the actionable features
  soft-scores    random integer scores 1..5 for each actionable feature
  hard+soft      a random subset and a random ranking of that subset
"""

from __future__ import annotations

import hashlib
import math
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from milp_recourse.errors import InputError
from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.options import DIRECTIONS, Actionability, check_grid_size
from milp_recourse.scm.levels import grid_value

SCALAR_COLUMNS = ("actionable", "max_changes", "ranking")
FEATURE_PREFIXES = ("bounds", "direction", "grid", "weight", "score", "preferred")
GENERATORS = ("universal", "hard-subsets", "soft-ranking", "soft-scores", "hard+soft")
GENERATOR_PREFIX = "generator:"


@dataclass(frozen=True)
class Profile:
    """One person's overrides of the run's base constraints and preferences (plain, picklable data)."""

    actionable: tuple[str, ...] | None = None
    max_changes: int | None = None
    bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    directions: Mapping[str, str] = field(default_factory=dict)
    grids: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)
    ranking: tuple[str, ...] | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    preferred: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def apply(self, act: Actionability, prefs: Preferences, spec_actionable: Sequence[str],
              ranking_map: str = "rank", score_map: str = "identity") -> tuple[Actionability, Preferences]:
        """The person's Actionability and Preferences: the base with this profile's overrides."""
        actionable = self.actionable if self.actionable is not None else act.actionable
        new_act = Actionability(actionable=actionable, bounds={**act.bounds, **self.bounds},
                                directions={**act.directions, **self.directions},
                                max_changes=self.max_changes if self.max_changes is not None else act.max_changes,
                                grids={**act.grids, **self.grids}, logic=act.logic)
        feats = list(actionable if actionable is not None else spec_actionable)
        if self.ranking is not None:   # (Preferences.from_*: unnamed features get the hardest weight)
            own = Preferences.from_ranking([f for f in self.ranking if f in feats], feats, ranking_map)
        elif self.scores:
            own = Preferences.from_scores({f: s for f, s in self.scores.items() if f in feats}, feats, score_map)
        else:
            own = Preferences(weights=dict(self.weights)) if self.weights else prefs
        return new_act, dataclasses.replace(own, preferred_ranges={**prefs.preferred_ranges, **self.preferred},
                                            range_penalty=prefs.range_penalty)


# cells ---------------------------------------------------------------------------------------
def _text(v: Any) -> str | None:
    """A cell as stripped text, None when empty/NaN."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    s = str(v).strip()
    return s or None


def _num(text: str, where: str) -> float:
    try:
        val = float(text)
    except ValueError:
        raise InputError(f"{where}: {text!r} is not a number.") from None
    if not math.isfinite(val):
        raise InputError(f"{where}: expected a finite number; got {text!r}.")
    return val


def _names(text: str, where: str) -> tuple[str, ...]:
    items = tuple(t.strip() for t in text.replace(",", ";").split(";") if t.strip())
    if len(set(items)) != len(items):
        raise InputError(f"{where}: {text!r} lists a feature twice.")
    return items


def _range(text: str, where: str, both: bool) -> tuple[float | None, float | None]:
    if ":" not in text or text.count(":") != 1:
        raise InputError(f"{where}: expected LOW:HIGH; got {text!r}.")
    lo, hi = (t.strip() for t in text.split(":"))
    out = (None if lo == "" else _num(lo, where), None if hi == "" else _num(hi, where))
    if both and None in out:
        raise InputError(f"{where}: both ends are needed; got {text!r}.")
    return out


def _grid(text: str, where: str, levels: Sequence[str] = ()) -> tuple[float, ...]:
    """V1|V2|... or LOW:HIGH:COUNT; for a categorical / ordinal feature the values may be level names (as in
    `solve --grid job=Sales|Craft`)."""
    if "|" in text or ":" not in text:   # (one value alone, '0.25' or the level 'Craft', is a grid of one)
        return tuple(grid_value(levels, t, where, "this feature", _num) if levels else _num(t.strip(), where)
                     for t in text.split("|"))
    parts = text.split(":")
    if len(parts) != 3:
        raise InputError(f"{where}: expected V1|V2|... or LOW:HIGH:COUNT; got {text!r}.")
    lo, hi = _num(parts[0], where), _num(parts[1], where)
    count = _num(parts[2], where)
    if count < 1 or not float(count).is_integer() or lo > hi:
        raise InputError(f"{where}: need an integer COUNT >= 1 and LOW <= HIGH; got {text!r}.")
    check_grid_size(where, count)
    return tuple(float(t) for t in np.linspace(lo, hi, int(count)))


# tables --------------------------------------------------------------------------------------
def _check_columns(frame: pd.DataFrame, key: str, names: Sequence[str]) -> None:
    bad, unknown_feat = [], []
    for col in frame.columns:
        col = str(col)
        if col == key or col in SCALAR_COLUMNS:
            continue
        prefix, _, feat = col.partition(".")
        if prefix not in FEATURE_PREFIXES or not feat:
            bad.append(col)
        elif feat not in names:
            unknown_feat.append(col)
    if bad:
        raise InputError(f"The profiles have unknown column(s) {bad}; expected {key!r}, "
                         f"{', '.join(SCALAR_COLUMNS)} and {', '.join(p + '.FEATURE' for p in FEATURE_PREFIXES)}.")
    if unknown_feat:
        raise InputError(f"The profile column(s) {unknown_feat} name unknown feature(s); the SCM's features are "
                         f"{', '.join(names)}.")


def _row_profile(row: Mapping[str, Any], who: str, names: Sequence[str], spec_actionable: Sequence[str],
                 levels: Mapping[str, tuple[str, ...]] | None = None) -> Profile:
    kw: dict[str, Any] = {"bounds": {}, "directions": {}, "grids": {}, "weights": {}, "scores": {}, "preferred": {}}
    text = _text(row.get("actionable"))
    if text is not None:
        acts = () if text.lower() == "none" else _names(text, f"{who}, column 'actionable'")
        unknown = [a for a in acts if a not in names]
        if unknown:
            raise InputError(f"{who}, column 'actionable': unknown feature(s) {unknown}; the SCM's features are "
                             f"{', '.join(names)}.")
        immutable = [a for a in acts if a not in spec_actionable]
        if immutable:
            raise InputError(f"{who}, column 'actionable': feature(s) {immutable} are immutable in the SCM spec; "
                             f"a person can act only on {', '.join(spec_actionable)}.")
        kw["actionable"] = acts
    text = _text(row.get("max_changes"))
    if text is not None:
        val = _num(text, f"{who}, column 'max_changes'")
        if val < 0 or not val.is_integer():
            raise InputError(f"{who}, column 'max_changes': expected an integer >= 0; got {text!r}.")
        kw["max_changes"] = int(val)
    text = _text(row.get("ranking"))
    if text is not None:
        kw["ranking"] = _names(text, f"{who}, column 'ranking'")
        unknown = [a for a in kw["ranking"] if a not in names]
        if unknown:
            raise InputError(f"{who}, column 'ranking': unknown feature(s) {unknown}; the SCM's features are "
                             f"{', '.join(names)}.")
    for col, value in row.items():
        prefix, _, feat = str(col).partition(".")
        text = _text(value)
        if prefix not in FEATURE_PREFIXES or text is None:
            continue
        where = f"{who}, column {col!r}"
        if prefix == "bounds":
            kw["bounds"][feat] = _range(text, where, both=False)
        elif prefix == "preferred":
            kw["preferred"][feat] = _range(text, where, both=True)
        elif prefix == "direction":
            if text not in DIRECTIONS:
                raise InputError(f"{where}: expected one of {', '.join(DIRECTIONS)}; got {text!r}.")
            kw["directions"][feat] = text
        elif prefix == "grid":
            kw["grids"][feat] = _grid(text, where, (levels or {}).get(feat, ()))
        elif prefix == "weight":
            kw["weights"][feat] = _num(text, where)
        else:
            kw["scores"][feat] = _num(text, where)
    given = [k for k in ("weights", "scores") if kw[k]] + (["ranking"] if "ranking" in kw else [])
    if len(given) > 1:
        raise InputError(f"{who} sets {' and '.join(given)}; give weights, a ranking or scores, not several.")
    return Profile(**kw)


def parse_profiles(frame: pd.DataFrame, scm, key: str, base_act: Actionability, base_prefs: Preferences,
                   ranking_map: str = "rank", score_map: str = "identity") -> dict[str, Profile]:
    """Validated profiles by id (as text) from a table; every row is checked against the base here."""
    if key not in frame.columns:
        raise InputError(f"The profiles lack the id column {key!r}; they have {', '.join(map(str, frame.columns))}.")
    names = list(scm.names)
    spec_actionable = [v.name for v in scm.variables if v.actionability != "immutable"]
    _check_columns(frame, key, names)
    ids = frame[key].map(id_key)
    dup = sorted(set(ids[ids.duplicated()]))
    if dup:
        raise InputError(f"The profiles list id(s) {dup[:10]} more than once; each person needs one row.")
    out: dict[str, Profile] = {}
    for k, row in zip(ids, frame.to_dict("records")):
        who = f"Profile of id {k!r}"
        prof = _row_profile(row, who, names, spec_actionable, {v.name: tuple(v.levels) for v in scm.variables
                                                               if v.levels})
        try:
            prof.apply(base_act, base_prefs, spec_actionable, ranking_map, score_map)
        except InputError as exc:
            raise InputError(f"{who}: {exc}") from None
        out[k] = prof
    return out


def id_key(value: Any) -> str:
    """Ids are matched as text (so 7 in the data and "7" in a CSV agree)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


# generators ----------------------------------------------------------------------------------
def _rng(seed: int, key: str) -> np.random.Generator:
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng([int(seed), digest])


def generate_profiles(name: str, ids: Sequence[Any], scm, seed: int = 0, key: str = "id",
                      actionable: Sequence[str] | None = None) -> pd.DataFrame:
    """A profiles table (the documented format) from a named generator; deterministic per (seed, id)."""
    if name not in GENERATORS:
        raise InputError(f"Unknown profile generator {name!r}; expected one of {', '.join(GENERATORS)}.")
    feats = list(actionable) if actionable is not None else [v.name for v in scm.variables
                                                             if v.actionability != "immutable"]
    rows = []
    for ident in ids:
        rng = _rng(seed, id_key(ident))
        row: dict[str, Any] = {key: ident}
        if name in ("hard-subsets", "hard+soft") and feats:
            size = int(rng.integers(1, len(feats) + 1))
            subset = [feats[i] for i in sorted(rng.permutation(len(feats))[:size])]
            row["actionable"] = ";".join(subset)
            if name == "hard+soft":
                row["ranking"] = ";".join(subset[i] for i in rng.permutation(len(subset)))
        elif name == "soft-ranking":
            row["ranking"] = ";".join(feats[i] for i in rng.permutation(len(feats)))
        elif name == "soft-scores":
            row.update({f"score.{f}": int(s) for f, s in zip(feats, rng.integers(1, 6, size=len(feats)))})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else [key])


def load_profiles(source: Any, ids: Sequence[Any], scm, key: str, base_act: Actionability, base_prefs: Preferences,
                  seed: int = 0, ranking_map: str = "rank", score_map: str = "identity",
                  known_ids: Sequence[Any] | None = None) -> dict[str, Profile]:
    """Profiles of `ids` from a DataFrame, a CSV/Parquet path or 'generator:NAME'. Every profile's id must be in
    `known_ids` (default `ids`; with a row limit, the whole data's ids: profiles of rows past it are left out)."""
    from milp_recourse.tables import as_table

    if source is None:
        return {}
    if isinstance(source, str) and source.startswith(GENERATOR_PREFIX):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"The profile seed must be an integer >= 0 (numpy's seeds); got {seed!r}.")
        frame = generate_profiles(source[len(GENERATOR_PREFIX):], ids, scm, seed, key, base_act.actionable)
    else:
        frame = as_table(source, "profiles")
        if key not in frame.columns and "id" in frame.columns:
            frame = frame.rename(columns={"id": key})
    profiles = parse_profiles(frame, scm, key, base_act, base_prefs, ranking_map, score_map)
    known = {id_key(i) for i in (ids if known_ids is None else known_ids)}
    unknown = sorted(k for k in profiles if k not in known)
    if unknown:
        raise InputError(f"The profiles name {len(unknown)} id(s) not in the data, e.g. {unknown[:5]}; "
                         "check the id column and its type.")
    used = {id_key(i) for i in ids}
    return {k: p for k, p in profiles.items() if k in used}


__all__ = ["Profile", "parse_profiles", "generate_profiles", "load_profiles", "id_key", "GENERATORS"]
