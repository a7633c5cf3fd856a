"""`import milp_recourse` and the core solve path work with every optional extra missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import sys
    # None in sys.modules is how Python spells "not installed" for both `import` and importlib.util.find_spec
    # (torch is not blocked this way: scipy probes sys.modules["torch"]; it is checked as never imported below)
    for name in ("ortools", "pyomo", "dask", "distributed", "ray", "xgboost", "lightgbm", "matplotlib"):
        sys.modules[name] = None
    import milp_recourse
    from milp_recourse import RecourseProblem, load_scm, solve
    from milp_recourse.backends import available_backends, get_backend
    from milp_recourse.errors import BackendUnavailableError
    from milp_recourse.models.recipes import first_denied, train_recipe

    scm = load_scm("chain")
    model = train_recipe(scm, "logreg", 1000, 0)
    res = solve(RecourseProblem(scm, model, first_denied(scm, model)))
    assert res.status.value == "OPTIMAL" and res.verified, res
    assert available_backends() == ["highs"], available_backends()
    for name in ("ortools-scip", "pyomo"):
        try:
            get_backend(name)
        except BackendUnavailableError as err:
            assert "pip install" in str(err), err
        else:
            raise SystemExit(f"{name} should be unavailable")
    assert "torch" not in sys.modules
    print("ok")
''')


def test_core_works_without_optional_extras() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
