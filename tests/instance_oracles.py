"""instances/oracles.py (the independent reference optima) loaded once for the tests that compare against it;
registered in sys.modules because its dataclasses need their module. `from instance_oracles import oracles`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("instances_oracles",
                                               Path(__file__).resolve().parents[1] / "instances" / "oracles.py")
oracles = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = oracles
_spec.loader.exec_module(oracles)
