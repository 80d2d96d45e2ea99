"""Where the files that travel with the package live: ParaView's plugin files and the pvbatch scripts.

From a checkout (an editable install) they are the repository's `plugins/` and `scripts/`. A wheel
carries them as data files (pyproject.toml, `[tool.setuptools.data-files]`), installed under
`<prefix>/share/echo-paraview/` of the environment (or of the user scheme with `pip install --user`).
"""
from __future__ import annotations

import site
import sys
from pathlib import Path

from echo_model.errors import EchoUserError

CHECKOUT = Path(__file__).resolve().parent.parent
SHARE = Path("share") / "echo-paraview"
PVBATCH_SCRIPTS = ("pv_demo.py", "pv_demo_cylinder.py")


def in_checkout() -> bool:
    """Running from the repository (its plugins/ beside the package), not from an installed wheel."""
    return (CHECKOUT / "plugins" / "EchoPlugin.py").is_file() and (CHECKOUT / "pyproject.toml").is_file()


def _installed(sub: str) -> Path | None:
    for prefix in (sys.prefix, getattr(site, "USER_BASE", None) or ""):
        d = Path(prefix) / SHARE / sub
        if d.is_dir():
            return d
    return None


def plugin_dir() -> Path:
    """The folder ParaView loads the plugin from (PV_PLUGIN_PATH)."""
    if in_checkout():
        return CHECKOUT / "plugins"
    d = _installed("plugins")
    if d is None:
        raise EchoUserError(f"the ParaView plugin files are missing: neither {CHECKOUT / 'plugins'} (a checkout) nor "
                            f"{Path(sys.prefix) / SHARE / 'plugins'} (an installed wheel) exists; reinstall the "
                            "package with `pip install echo-paraview` or from its repository")
    return d


def pvbatch_script(name: str) -> Path:
    """One of the pvbatch scripts the demos run (PVBATCH_SCRIPTS)."""
    if name not in PVBATCH_SCRIPTS:
        raise EchoUserError(f"unknown pvbatch script {name!r}; one of {PVBATCH_SCRIPTS}")
    if in_checkout():
        return CHECKOUT / "scripts" / name
    d = _installed("scripts")
    if d is None or not (d / name).is_file():
        raise EchoUserError(f"the pvbatch script {name} is missing from {Path(sys.prefix) / SHARE / 'scripts'}; "
                            "reinstall the package")
    return d / name

