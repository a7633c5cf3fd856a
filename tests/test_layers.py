"""The layer order of the package (README, "How it works"): a lower layer never imports a higher one.

Read from the source with `ast` (every import, including those inside functions), so a lazy import cannot
hide an upward dependency. The facade `milp_recourse/__init__.py` and `__main__.py` sit above everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "milp_recourse"
# lowest first; modules at the package root other than the facade form the base layer
LAYERS = ("base", "scm", "models", "problem", "mip", "bounds", "encode", "backends", "solver", "diagnose",
          "baselines", "batch", "evaluation", "serve", "cli")
FACADE = {"milp_recourse", "milp_recourse.__main__"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    if module in FACADE:
        return "facade"
    if len(parts) >= 2 and parts[1] in LAYERS:
        return parts[1]
    return "base"


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    pkg = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names]   # `from pkg import module`
    return [(line, t) for line, t in out if t == "milp_recourse" or t.startswith("milp_recourse.")]


def _existing(target: str) -> str:
    """The longest prefix of a dotted name that is a module or package of ours."""
    parts = target.split(".")
    while parts:
        p = PKG.parent.joinpath(*parts)
        if p.with_suffix(".py").is_file() or (p / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return target


def upward_imports() -> list[str]:
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        module = _module(path)
        here = _layer(module)
        if here == "facade":
            continue
        for line, target in _imports(path, module):
            there = _layer(_existing(target))
            if there == "facade":
                bad.append(f"{module}:{line} imports the facade ({target}); import the defining module instead")
            elif LAYERS.index(there) > LAYERS.index(here):
                bad.append(f"{module}:{line} ({here}) imports {target} ({there}), a higher layer")
    return bad


def test_no_layer_imports_a_higher_one() -> None:
    bad = upward_imports()
    assert not bad, "\n".join(bad)


def test_every_folder_is_a_known_layer() -> None:
    folders = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders <= set(LAYERS), f"unknown layer folder(s): {sorted(folders - set(LAYERS))}"


def test_package_root_holds_at_most_ten_modules() -> None:
    root = sorted(p.name for p in PKG.glob("*.py"))
    assert len(root) <= 10, root


@pytest.mark.parametrize("bad_source, expected", [
    ("from milp_recourse.cli.main import main\n", "imports milp_recourse.cli.main"),
    ("def f():\n    from milp_recourse.solver import pipeline\n", "imports milp_recourse.solver.pipeline"),
])
def test_the_check_catches_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad_source: str,
                                            expected: str) -> None:
    """A lazy (function-level) upward import is caught as well as a top-level one."""
    fake = PKG / "scm" / "_layer_probe.py"
    fake.write_text(bad_source)
    try:
        assert any(expected in b and "milp_recourse.scm._layer_probe" in b for b in upward_imports())
    finally:
        fake.unlink()
