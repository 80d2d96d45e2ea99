"""The OpenFOAM case and model fixtures (tests/foam_fixtures.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from foam_fixtures import cylinder_model, foam_case, make_model  # noqa: E402,F401
