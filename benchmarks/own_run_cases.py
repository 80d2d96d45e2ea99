"""The runs of the own-run benchmark: OpenFOAM's own tutorials (Debian's `openfoam-examples`), run
once as their README says with the recorded time and write interval set here, plus the project's
cylinder case. Nobody on the project tuned a model on any of them.

Each recipe copies the tutorial, applies its edits (controlDict entries through `foamDictionary`,
a mesh-scale edit where the tutorial is too large for a CPU), meshes, runs the solver under `nice`,
and records the solver's CPU seconds in `solve.json` next to the case (a rerun skips solved cases).
"""
from __future__ import annotations

import gzip
import json
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from echo_model.cases.cylinder_case import openfoam_env, require_openfoam

EXAMPLES = Path("/usr/share/doc/openfoam-examples/examples")  # Debian's package `openfoam-examples`


@dataclass(frozen=True)
class TutorialCase:
    """One OpenFOAM tutorial as the benchmark runs it.

    Parameters
    ----------
    name : str
        Short name (work folder, table rows).
    tutorial : str
        Folder under the examples.
    solver : str
        The application.
    fields : str
        Fields imported (`echopv import --fields`).
    control : dict
        controlDict entries set before the run (end time, write interval).
    pre : tuple of command tuples
        Commands before the solver (blockMesh, topoSet, setFields, ...).
    start_time : float
        Frames before it are the start-up transient, not imported.
    character : str
        "periodic" or "aperiodic": which target the issue sets (<= 1x DMD, or <= 0.7x the best baseline).
    """

    name: str
    tutorial: str
    solver: str
    fields: str
    control: dict[str, str]
    pre: tuple[tuple[str, ...], ...] = (("blockMesh",),)
    start_time: float = 0.0
    character: str = "aperiodic"
    m4_scale: int | None = None  # vortexShed: the nScale of its blockMeshDict.m4
    sed: dict[str, str] = field(default_factory=dict)


CASES: dict[str, TutorialCase] = {
    # laminar flow through and around a porous block: 2,048 cells, a wake that sheds
    "porousBlockage": TutorialCase(
        name="porousBlockage", tutorial="incompressible/pisoFoam/laminar/porousBlockage", solver="pisoFoam",
        fields="U,p", control={"endTime": "100", "writeInterval": "0.5"}, pre=(("blockMesh",), ("topoSet",)),
        start_time=20.0),
    # LES of vortex shedding behind a square at high Re: the tutorial's mesh at a quarter of its scale (7.7k
    # cells; the tutorial's 123k would cost CPU-hours) with twice its time step (the same Courant number)
    "vortexShed": TutorialCase(
        name="vortexShed", tutorial="incompressible/pimpleFoam/LES/vortexShed", solver="pimpleFoam",
        fields="U,p", control={"endTime": "0.1", "deltaT": "2e-05", "writeInterval": "50", "purgeWrite": "0"},
        m4_scale=1, start_time=0.02),
    # a water column collapsing on an obstacle: two-phase, aperiodic, 2,268 cells
    "damBreak": TutorialCase(
        name="damBreak", tutorial="multiphase/interFoam/laminar/damBreak/damBreak", solver="interFoam",
        fields="alpha.water,U,p_rgh", control={"endTime": "1", "writeInterval": "0.01"},
        pre=(("blockMesh",), ("setFields",))),
}


def _copy_tutorial(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    for gz in dst.rglob("*.gz"):  # Debian compresses some tutorial files
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    orig = dst / "0.orig"
    if orig.is_dir() and not (dst / "0").exists():
        shutil.copytree(orig, dst / "0")
    for alpha in (dst / "0").glob("*.orig"):  # damBreak: alpha.water.orig is the initial field setFields edits
        shutil.copy(alpha, alpha.with_suffix(""))


def _run(cmd: list[str], case: Path, log: str, nice: int = 0) -> float:
    """Run an OpenFOAM command in `case`; returns its CPU seconds (children's user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(case / f"log.{log}", "w") as out:
        proc = subprocess.run((["nice", "-n", str(nice)] if nice else []) + cmd, cwd=case, stdout=out,
                              stderr=subprocess.STDOUT, env=openfoam_env())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        tail = (case / f"log.{log}").read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"{' '.join(cmd)} failed in {case}:\n" + "\n".join(tail))
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _m4_mesh(case: Path, scale: int) -> None:
    m4 = case / "system" / "blockMeshDict.m4"
    text = m4.read_text().replace("define(nScale, 4)", f"define(nScale, {scale})")
    m4.write_text(text)
    with open(case / "system" / "blockMeshDict", "w") as out:
        subprocess.run(["m4", "system/blockMeshDict.m4"], stdout=out, check=True, cwd=case)


def solve(tc: TutorialCase, work: Path, nice: int = 10) -> Path:
    """The tutorial's case folder under `work`, solved (cached: `solve.json` marks a finished run)."""
    case = work / tc.name / "case"
    done = case / "solve.json"
    if done.exists():
        return case
    require_openfoam(tc.solver, "blockMesh", "foamDictionary")
    if case.exists():
        shutil.rmtree(case)
    _copy_tutorial(EXAMPLES / tc.tutorial, case)
    for key, value in tc.control.items():
        _run(["foamDictionary", "system/controlDict", "-entry", key, "-set", value], case, f"set.{key}")
    if tc.m4_scale is not None:
        _m4_mesh(case, tc.m4_scale)
    for cmd in tc.pre:
        _run(list(cmd), case, cmd[0])
    t0 = time.time()
    cpu = _run([tc.solver], case, tc.solver, nice=nice)
    done.write_text(json.dumps({"solver": tc.solver, "solver_cpu_s": round(cpu, 1),
                                "wall_s": round(time.time() - t0, 1)}, indent=1))
    return case


def solve_cylinder(work: Path, seed: int = 3, nice: int = 10) -> Path:
    """The project's own cylinder case (one random case of the family's ranges on the `coarse` mesh),
    kept as an OpenFOAM case folder so it is imported like the tutorials."""
    case_root = work / "cylinder"
    done = case_root / "solve.json"
    if not done.exists():
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cmd = [sys.executable, "-m", "echo_paraview.cli", "generate", "cylinder", "--n", "1", "--seed", str(seed), "--mesh", "coarse",
               "--end-time", "6", "--skip-time", "3.5", "--write-interval", "0.025", "--jobs", "1",
               "--nice", str(nice), "--keep-case", "--work-dir", str(case_root / "cases"),
               "--out", str(case_root / "generated.h5")]
        subprocess.run(cmd, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        done.write_text(json.dumps({"solver": "pimpleFoam (echopv generate cylinder)",
                                    "solver_cpu_s": round(after.ru_utime - before.ru_utime
                                                          + after.ru_stime - before.ru_stime, 1)}, indent=1))
    cases = sorted(p.parent for p in (case_root / "cases").rglob("controlDict") if p.parent.name == "system")
    if not cases:
        raise RuntimeError(f"no OpenFOAM case under {case_root / 'cases'}: rerun with the solve step")
    return cases[0].parent
