"""Solving for a ReLUNetwork never imports scikit-learn or pandas (a batch worker's start-up), and the
scikit-learn families still register whenever scikit-learn arrives: after a network was solved, for a subclass
defined elsewhere, and in the listings of supported types."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np

from milp_recourse import RecourseProblem, load_scm, solve
from milp_recourse.models.relu_network import ReLUNetwork


def _network(seed: int = 3) -> ReLUNetwork:
    """A random 7 -> 6 -> 1 network on the Loan SCM's variables (denies some people, approves others)."""
    rng = np.random.default_rng(seed)
    return ReLUNetwork((rng.normal(size=(6, 7)), rng.normal(size=(1, 6))), (rng.normal(size=6), np.array([-1.0])),
                       scaler_mean=np.array([0.5, 30.0, 10.0, 2.0, 0.5, 5.0, 3.0]),
                       scaler_std=np.array([0.5, 10.0, 3.0, 1.0, 0.5, 3.0, 2.0]))


def _denied(scm, net: ReLUNetwork, n: int) -> np.ndarray:
    X = scm.sample(400, seed=0)[list(scm.names)].to_numpy(float)
    return X[net.predict(X) == 0][:n]


NO_SKLEARN = textwrap.dedent('''
    import json, sys
    import numpy as np
    sys.modules["sklearn"] = None          # any import of scikit-learn now fails
    sys.modules["pandas"] = None           # and of pandas (0.4 s of a worker's start-up)
    from milp_recourse import RecourseProblem, load_scm, solve
    from milp_recourse.models.relu_network import ReLUNetwork
    from milp_recourse.solver.many import solve_many
    import milp_recourse.batch.worker      # what a batch worker imports
    a = json.loads(sys.argv[1])
    net = ReLUNetwork(tuple(map(np.array, a["W"])), tuple(map(np.array, a["b"])), np.array(a["mean"]),
                      np.array(a["std"]))
    scm = load_scm("loan")
    one = [solve(RecourseProblem(scm, net, x)) for x in a["X"]]
    many, _ = solve_many([RecourseProblem(scm, net, x) for x in a["X"]])
    print(json.dumps({"one": [[r.status.value, r.cost, dict(r.counterfactual)] for r in one],
                      "many": [[r.status.value, r.cost] for r in many],
                      "sklearn": [m for m in sys.modules if m.startswith("sklearn.")]}))
''')


def test_a_network_is_solved_without_importing_sklearn_or_pandas() -> None:
    scm, net = load_scm("loan"), _network()
    X = _denied(scm, net, 4)
    assert len(X) == 4
    arg = {"W": [w.tolist() for w in net.weights], "b": [c.tolist() for c in net.biases],
           "mean": net.scaler_mean.tolist(), "std": net.scaler_std.tolist(), "X": X.tolist()}
    out = subprocess.run([sys.executable, "-c", NO_SKLEARN, json.dumps(arg)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["sklearn"] == []
    for x, (status, cost, cf), (status_many, cost_many) in zip(X, got["one"], got["many"]):
        ref = solve(RecourseProblem(scm, net, x))   # this process has scikit-learn imported
        assert status == status_many == ref.status.value == "OPTIMAL"
        assert np.isclose(cost, ref.cost, rtol=1e-7, atol=1e-9) and np.isclose(cost_many, ref.cost, rtol=1e-7)
        row = np.array([[cf[n] for n in scm.names]])
        assert net.predict(row)[0] == 1 and net.predict(x[None, :])[0] == 0   # the network's own verdicts


LATE_SKLEARN = textwrap.dedent('''
    import json, sys
    import numpy as np
    from milp_recourse import RecourseProblem, load_scm, solve
    from milp_recourse.models.relu_network import ReLUNetwork
    from milp_recourse.models.recipes import first_denied
    scm = load_scm("loan")
    rng = np.random.default_rng(1)
    net = ReLUNetwork((rng.normal(size=(4, 7)), rng.normal(size=(1, 4))), (rng.normal(size=4), np.array([0.0])))
    first = solve(RecourseProblem(scm, net, np.zeros(7)))   # the registries are consulted before scikit-learn
    from sklearn.linear_model import LogisticRegression      # ... which arrives only now

    class Mine(LogisticRegression):                            # a subclass from outside scikit-learn
        pass

    X = scm.sample(500, seed=0)[list(scm.names)].to_numpy(float)
    z = X @ np.array([0, 0, 1.0, 0.5, 0, 1.0, 1.0])
    y = (z > np.median(z)).astype(int)
    out = []
    for cls in (LogisticRegression, Mine):
        model = cls().fit(X, y)
        x = first_denied(scm, model)
        r = solve(RecourseProblem(scm, model, x))
        cf = np.array([[r.counterfactual[n] for n in scm.names]])
        out.append([type(model).__name__, r.status.value, r.cost, int(model.predict(cf)[0]), list(map(float, x))])
    print(json.dumps({"first": first.status.value, "out": out}))
''')


def test_sklearn_families_register_when_sklearn_arrives_late() -> None:
    out = subprocess.run([sys.executable, "-c", LATE_SKLEARN], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    (_, s1, c1, p1, x1), (name2, s2, c2, p2, x2) = got["out"]
    assert name2 == "Mine" and s1 == s2 == "OPTIMAL" and p1 == p2 == 1   # the model's own predict: approved
    assert x1 == x2 and np.isclose(c1, c2, rtol=1e-9)                   # the subclass is the same model


LISTING = textwrap.dedent('''
    import sys
    from milp_recourse.models import supported_types
    from milp_recourse.encode.classifier_registry import encoder_types
    from milp_recourse.models.registry import registered_types
    names = supported_types()
    assert "sklearn" in sys.modules
    print(",".join(names))
    print(sorted(t.__name__ for t in encoder_types()) == sorted(t.__name__ for t in registered_types()))
''')


def test_the_listing_of_supported_types_names_sklearn_families_in_a_fresh_process() -> None:
    out = subprocess.run([sys.executable, "-c", LISTING], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    names, same = out.stdout.strip().splitlines()[-2:]
    for n in ("LogisticRegression", "LinearSVC", "MLPClassifier", "RandomForestClassifier", "Pipeline",
              "HistGradientBoostingClassifier", "ReLUNetwork", "xgboost.Booster"):
        assert n in names.split(","), (n, names)
    assert same == "True"
