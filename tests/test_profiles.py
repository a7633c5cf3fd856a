"""Per-person profiles: the documented column format, merging with the base, generators, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from milp_recourse import Actionability, InputError, Preferences, load_scm
from milp_recourse.problem.preferences import weights_from_ranking
from milp_recourse.batch.profiles import GENERATORS, generate_profiles, load_profiles, parse_profiles

SCM = load_scm("loan")
SPEC_ACT = ["E", "L", "I", "S"]


def parse(frame: pd.DataFrame, act: Actionability | None = None, prefs: Preferences | None = None):
    return parse_profiles(frame, SCM, "id", act or Actionability(), prefs or Preferences())


def test_table_format_is_parsed_into_constraints_and_weights():
    frame = pd.DataFrame([
        {"id": 1, "actionable": "E;L", "bounds.E": "-0.4:0.4", "bounds.L": ":5", "direction.L": "down",
         "max_changes": 1, "weight.E": 3.0, "grid.E": "-0.3|0|0.3"},
        {"id": 2, "ranking": "S;I;E;L", "preferred.I": "0:4", "direction.I": "up"},
        {"id": 3, "score.E": 5, "score.L": 1, "actionable": "none"},
        {"id": 5, "ranking": "S;I;E;L", "actionable": "E;L"},
        {"id": 6, "score.E": 4, "score.I": 2, "score.S": 3, "actionable": "I;E"},
        {"id": 4},
    ])
    profs = parse(frame)
    assert set(profs) == {"1", "2", "3", "4", "5", "6"}
    act, prefs = profs["1"].apply(Actionability(), Preferences(), SPEC_ACT)
    assert act.actionable == ("E", "L") and act.max_changes == 1
    assert dict(act.bounds) == {"E": (-0.4, 0.4), "L": (None, 5.0)}
    assert dict(act.directions) == {"L": "down"} and dict(act.grids) == {"E": (-0.3, 0.0, 0.3)}
    assert dict(prefs.weights) == {"E": 3.0}
    act, prefs = profs["2"].apply(Actionability(), Preferences(), SPEC_ACT)
    assert act.actionable is None and dict(act.directions) == {"I": "up"}
    # rank mapping: r-th easiest gets weight r (preferences.py), computed here by hand
    assert dict(prefs.weights) == {"S": 1.0, "I": 2.0, "E": 3.0, "L": 4.0}
    assert dict(prefs.preferred_ranges) == {"I": (0.0, 4.0)}
    act, prefs = profs["3"].apply(Actionability(), Preferences(), SPEC_ACT)
    assert act.actionable == () and dict(prefs.weights) == {}
    # rankings and scores apply to the person's own actionable features, order kept
    assert dict(profs["5"].apply(Actionability(), Preferences(), SPEC_ACT)[1].weights) == {"E": 1.0, "L": 2.0}
    assert dict(profs["6"].apply(Actionability(), Preferences(), SPEC_ACT)[1].weights) == {"I": 2.0, "E": 4.0}
    act, prefs = profs["4"].apply(Actionability(), Preferences(), SPEC_ACT)
    assert act == Actionability() and dict(prefs.weights) == {}


def test_scores_give_weights_over_actionable_features():
    profs = parse(pd.DataFrame([{"id": "a", "score.E": 5, "score.I": 2}]))
    _, prefs = profs["a"].apply(Actionability(), Preferences(), SPEC_ACT)
    assert dict(prefs.weights) == {"E": 5.0, "L": 5.0, "I": 2.0, "S": 5.0}  # unscored get the largest score


def test_profile_merges_with_base_feature_by_feature():
    base = Actionability(bounds={"E": (-0.1, 0.1), "I": (None, 3.0)}, directions={"S": "up"}, max_changes=3)
    base_prefs = Preferences(weights={"E": 2.0}, preferred_ranges={"L": (-5.0, 0.0)})
    profs = parse(pd.DataFrame([{"id": 0, "bounds.I": "-1:1", "direction.E": "down"},
                                {"id": 1, "weight.S": 4}]), base, base_prefs)
    act, prefs = profs["0"].apply(base, base_prefs, SPEC_ACT)
    assert dict(act.bounds) == {"E": (-0.1, 0.1), "I": (-1.0, 1.0)}
    assert dict(act.directions) == {"S": "up", "E": "down"} and act.max_changes == 3
    assert dict(prefs.weights) == {"E": 2.0} and dict(prefs.preferred_ranges) == {"L": (-5.0, 0.0)}
    _, prefs = profs["1"].apply(base, base_prefs, SPEC_ACT)
    assert dict(prefs.weights) == {"S": 4.0}  # the profile's weights replace the base's


@pytest.mark.parametrize("rows, message", [
    ([{"id": 1}, {"id": 1}], "more than once"),
    ([{"id": 1, "bounds.Z": "0:1"}], "unknown feature"),
    ([{"id": 1, "bound.E": "0:1"}], "unknown column"),
    ([{"id": 1, "colour": "red"}], "unknown column"),
    ([{"id": 1, "actionable": "E;Q"}], "unknown feature"),
    ([{"id": 1, "actionable": "E;A"}], "immutable"),
    ([{"id": 1, "ranking": "E;L", "weight.E": 2}], "not several"),
    ([{"id": 1, "direction.E": "sideways"}], "up, down"),
    ([{"id": 1, "bounds.E": "0.5"}], "LOW:HIGH"),
    ([{"id": 1, "weight.E": "heavy"}], "not a number"),
    ([{"id": 1, "max_changes": 1.5}], "integer >= 0"),
    ([{"id": 1, "ranking": "E;E"}], "twice"),
    ([{"id": 1, "score.E": 0}], "score"),
])
def test_bad_profiles_are_rejected_with_the_reason(rows, message):
    with pytest.raises(InputError, match=message):
        parse(pd.DataFrame(rows))


def test_profiles_must_name_ids_of_the_data_and_have_an_id_column():
    frame = pd.DataFrame([{"id": 1}, {"id": 99}])
    with pytest.raises(InputError, match="not in the data"):
        load_profiles(frame, [0, 1, 2], SCM, "id", Actionability(), Preferences())
    with pytest.raises(InputError, match="id column"):
        parse_profiles(pd.DataFrame([{"who": 1}]), SCM, "id", Actionability(), Preferences())
    with pytest.raises(InputError, match="does not exist"):
        load_profiles("/nonexistent/profiles.csv", [0], SCM, "id", Actionability(), Preferences())


@pytest.mark.parametrize("name", GENERATORS)
def test_generators_are_valid_and_deterministic_per_id(name):
    ids = list(range(30))
    frame = generate_profiles(name, ids, SCM, seed=3)
    again = generate_profiles(name, ids[::-1], SCM, seed=3).set_index("id").loc[ids].reset_index()
    pd.testing.assert_frame_equal(frame, again[frame.columns], check_like=True)
    profs = parse(frame)  # the generated table is in the documented format
    assert set(profs) == {str(i) for i in ids}
    rows = frame.to_dict("records")
    if name in ("hard-subsets", "hard+soft"):
        subsets = [r["actionable"].split(";") for r in rows]
        assert all(1 <= len(s) <= 4 and set(s) <= set(SPEC_ACT) for s in subsets)
        assert len({tuple(s) for s in subsets}) > 3  # really random across people
        if name == "hard+soft":
            assert all(sorted(r["ranking"].split(";")) == sorted(r["actionable"].split(";")) for r in rows)
    if name == "soft-ranking":
        assert all(sorted(r["ranking"].split(";")) == sorted(SPEC_ACT) for r in rows)
        _, prefs = profs["0"].apply(Actionability(), Preferences(), SPEC_ACT)
        assert dict(prefs.weights) == weights_from_ranking(rows[0]["ranking"].split(";"), SPEC_ACT)
    if name == "soft-scores":
        scores = np.array([[r[f"score.{f}"] for f in SPEC_ACT] for r in rows])
        assert scores.min() >= 1 and scores.max() <= 5 and len(np.unique(scores)) > 1
    if name == "universal":
        assert list(frame.columns) == ["id"]
    other = generate_profiles(name, ids, SCM, seed=4)
    assert name == "universal" or not other.equals(frame)


def test_unknown_generator_is_an_error():
    with pytest.raises(InputError, match="hard-subsets"):
        load_profiles("generator:random", [0], SCM, "id", Actionability(), Preferences())


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_a_generator_seed_must_be_a_non_negative_integer(seed):
    scm = load_scm("loan")
    with pytest.raises(InputError, match=f"The profile seed must be an integer >= 0.*got {seed!r}"):
        load_profiles("generator:hard-subsets", [0, 1], scm, "id", Actionability(), Preferences(), seed)


def test_cli_refuses_a_negative_profile_seed_before_any_work(tmp_path):
    import subprocess
    import sys

    data = tmp_path / "d.csv"
    load_scm("loan").sample(5, seed=1).to_csv(data, index=False)
    out = subprocess.run([sys.executable, "-m", "milp_recourse", "batch", "--scm", "loan", "--classifier",
                          "recipe:logreg", "--data", str(data), "--out", str(tmp_path / "o.csv"), "--no-progress",
                          "--profiles", "generator:hard-subsets", "--profile-seed", "-1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and out.stderr.startswith("error: The profile seed") and "Traceback" not in out.stderr
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.csv.meta.json").exists()


def test_a_profile_grid_of_one_value_is_a_grid_of_one():
    """grid.E = '0.25' was refused ("expected V1|V2|... or LOW:HIGH:COUNT") where `solve --grid E=0.25` is a grid
    of one (an outside fuzz); a range still needs its count."""
    profs = parse(pd.DataFrame([{"id": 1, "grid.E": "0.25"}, {"id": 2, "grid.E": "-0.25:0.25:3"}]))
    assert dict(profs["1"].apply(Actionability(), Preferences(), SPEC_ACT)[0].grids) == {"E": (0.25,)}
    assert dict(profs["2"].apply(Actionability(), Preferences(), SPEC_ACT)[0].grids) == {"E": (-0.25, 0.0, 0.25)}
    with pytest.raises(InputError, match="expected V1|V2|... or LOW:HIGH:COUNT; got '0:1'"):
        parse(pd.DataFrame([{"id": 1, "grid.E": "0:1"}]))
    with pytest.raises(InputError, match="'abc' is not a number"):
        parse(pd.DataFrame([{"id": 1, "grid.E": "abc"}]))
