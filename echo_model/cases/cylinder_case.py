"""One OpenFOAM case of the DFG 2D-2 cylinder flow: write the dictionaries, mesh, run pimpleFoam.

Debian's OpenFOAM v1912 needs only WM_PROJECT_DIR=/usr/share/openfoam in the environment (its
bashrc prints errors, so it is not sourced). gmshToFoam leaves every patch of type `patch`; the
types are set with foamDictionary. The parabolic inlet is an `exprFixedValue` (no compilation).
Solver: pimpleFoam, laminar, PISO mode (one outer corrector), backward Euler 2nd order in time,
linearUpwind convection, adjustable time step at maxCo 0.9, no non-orthogonal correctors
(measured 1.36x cheaper with the same shedding), forceCoeffs for Cd, Cl.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EchoUserError
from .cylinder_mesh import CHANNEL_HEIGHT, MESHES, PATCH_TYPES, RADIUS, SLAB_DZ, Obstacle, write_mesh

DEFAULT_WM_PROJECT_DIR = "/usr/share/openfoam"


@dataclass
class CylinderCase:
    """Physical and numerical set-up of one case."""

    Um: float = 1.5  # peak inlet velocity of the parabolic profile
    nu: float = 1e-3
    cx: float = 0.2
    cy: float = 0.2
    mesh: str = "coarse"
    end_time: float = 6.0
    write_interval: float = 0.02
    max_co: float = 0.9
    shape: str = "circle"  # the obstacle (cylinder_mesh.Obstacle): circle, ellipse, rsquare, triangle
    aspect: float = 1.0
    angle: float = 0.0
    kick: float = 0.0  # > 0: rock the body at the start (peak surface speed kick * Um) to start the shedding early

    @property
    def obstacle(self) -> Obstacle:
        return Obstacle(self.shape, self.aspect, self.angle)

    @property
    def U_mean(self) -> float:
        """Mean inlet velocity 2/3 Um, the DFG reference velocity."""
        return 2.0 * self.Um / 3.0

    @property
    def D(self) -> float:
        return 2.0 * RADIUS

    @property
    def Re(self) -> float:
        return self.U_mean * self.D / self.nu

    def params(self) -> dict[str, float]:
        return {"Um": self.Um, "Re": self.Re, "cx": self.cx, "cy": self.cy, "nu": self.nu}


def openfoam_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("WM_PROJECT_DIR", DEFAULT_WM_PROJECT_DIR)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def require_openfoam(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise FileNotFoundError(
            f"OpenFOAM tools not found on PATH: {', '.join(missing)}. Install Debian's OpenFOAM "
            "(`apt-get install -y openfoam`, v1912) or put your OpenFOAM's bin directory on PATH"
        )


_HEADER = """FoamFile
{{
    version     2.0;
    format      ascii;
    class       {cls};
    object      {obj};
}}
"""


def _write(path: Path, cls: str, obj: str, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_HEADER.format(cls=cls, obj=obj) + body)


def write_dictionaries(case_dir: Path, case: CylinderCase) -> None:
    """controlDict, fvSchemes, fvSolution, transport, turbulence and the 0/ fields."""
    _write(case_dir / "system/controlDict", "dictionary", "controlDict", _control_dict(case))
    _write(case_dir / "system/fvSchemes", "dictionary", "fvSchemes", FV_SCHEMES)
    _write(case_dir / "system/fvSolution", "dictionary", "fvSolution", FV_SOLUTION)
    _write(case_dir / "constant/transportProperties", "dictionary", "transportProperties",
           f"\ntransportModel  Newtonian;\nnu              {case.nu:g};\n")
    _write(case_dir / "constant/turbulenceProperties", "dictionary", "turbulenceProperties",
           "\nsimulationType  laminar;\n")
    _write(case_dir / "0/U", "volVectorField", "U", _velocity_field(case))
    _write(case_dir / "0/p", "volScalarField", "p", PRESSURE_FIELD)


def _control_dict(case: CylinderCase) -> str:
    """Run control: adjustable time step at maxCo, writes every write_interval, forceCoeffs for Cd, Cl."""
    return f"""
application     pimpleFoam;
startFrom       startTime;
startTime       0;
stopAt          endTime;
endTime         {case.end_time:g};
deltaT          {min(2e-4, 0.2 * case.D / max(case.Um, 1e-6) / 20):g};
writeControl    adjustableRunTime;
writeInterval   {case.write_interval:g};
purgeWrite      0;
writeFormat     ascii;
writePrecision  7;
writeCompression off;
timeFormat      general;
timePrecision   8;
runTimeModifiable false;
adjustTimeStep  yes;
maxCo           {case.max_co:g};
maxDeltaT       {case.write_interval / 4:g};

functions
{{
    forceCoeffs
    {{
        type            forceCoeffs;
        libs            ("libforces.so");
        writeControl    timeStep;
        writeInterval   1;
        log             false;
        patches         (cylinder);
        rho             rhoInf;
        rhoInf          1;
        liftDir         (0 1 0);
        dragDir         (1 0 0);
        CofR            ({case.cx:g} {case.cy:g} 0);
        pitchAxis       (0 0 1);
        magUInf         {case.U_mean:g};
        lRef            {case.D:g};
        Aref            {case.D * SLAB_DZ:g};
    }}
}}
"""


def _velocity_field(case: CylinderCase) -> str:
    """0/U: at rest, no-slip walls and cylinder, the parabolic DFG inlet as an expression."""
    H = CHANNEL_HEIGHT
    # Parabolic profile with peak Um at mid-height (DFG 2D-2). Without a disturbance a
    # perfectly symmetric set-up sheds late; the mesh's own asymmetry is enough here.
    inlet = (
        f'vector({4 * case.Um:.10g}*pos().y()*({H:g}-pos().y())/{H * H:.10g}, 0, 0)'
    )
    return f"""
dimensions      [0 1 -1 0 0 0 0];
internalField   uniform (0 0 0);
boundaryField
{{
    inlet
    {{
        type            exprFixedValue;
        value           uniform (0 0 0);
        valueExpr       "{inlet}";
    }}
    outlet          {{ type zeroGradient; }}
    walls           {{ type noSlip; }}
    cylinder
    {{
        {_body_wall(case)}
    }}
    frontAndBack    {{ type empty; }}
}}
"""


KICK_PERIODS = 1  # shedding periods of rocking at the start (case.kick > 0)


def _body_wall(case: CylinderCase) -> str:
    """The obstacle's wall: no-slip, or for case.kick > 0 rocked about its centre for the first
    KICK_PERIODS shedding periods (St 0.3) at a peak surface speed of kick * Um. From rest a
    symmetric wake waits seconds for round-off to break its symmetry (3.5 of 5.5 simulated seconds
    at Re 100); rocking at the shedding frequency starts the vortex street at once."""
    if case.kick <= 0:
        return "type noSlip;"
    w = case.kick * case.Um / RADIUS
    f = 0.3 * case.U_mean / case.D
    spin = (f"(time() < {KICK_PERIODS / f:.6g} ? {w:.6g}*sin({2 * 3.141592653589793 * f:.8g}*time()) : 0)"
            f"*vector({case.cy:.6g}-pos().y(), pos().x()-{case.cx:.6g}, 0)")
    return f'type exprFixedValue; value uniform (0 0 0); valueExpr "{spin}";'



# Discretisation: backward Euler 2nd order in time, linearUpwind convection.
FV_SCHEMES = """
ddtSchemes      { default backward; }
gradSchemes     { default Gauss linear; grad(U) cellLimited Gauss linear 1; }
divSchemes
{
    default         none;
    div(phi,U)      bounded Gauss linearUpwind grad(U);
    div((nuEff*dev2(T(grad(U))))) Gauss linear;
}
laplacianSchemes { default Gauss linear corrected; }
interpolationSchemes { default linear; }
snGradSchemes   { default corrected; }
"""

# PISO mode (one outer corrector), no non-orthogonal correctors.
FV_SOLUTION = """
solvers
{
    p
    {
        solver          GAMG;
        smoother        GaussSeidel;
        tolerance       1e-6;
        relTol          0.01;
    }
    pFinal
    {
        $p;
        relTol          0;
    }
    "(U|UFinal)"
    {
        solver          smoothSolver;
        smoother        symGaussSeidel;
        tolerance       1e-7;
        relTol          0;
    }
}
PIMPLE
{
    momentumPredictor yes;
    nOuterCorrectors 1;
    nCorrectors     2;
    nNonOrthogonalCorrectors 0;
    pRefCell        0;
    pRefValue       0;
}
"""

PRESSURE_FIELD = """
dimensions      [0 2 -2 0 0 0 0];
internalField   uniform 0;
boundaryField
{
    inlet           { type zeroGradient; }
    outlet          { type fixedValue; value uniform 0; }
    walls           { type zeroGradient; }
    cylinder        { type zeroGradient; }
    frontAndBack    { type empty; }
}
"""


def _run(cmd: list[str], case_dir: Path, log_name: str, nice: int = 0) -> float:
    """Run an OpenFOAM tool in the case; returns its CPU seconds (user + system, its own rusage: other
    cases running at the same time are not counted)."""
    full = (["nice", "-n", str(nice)] if nice else []) + cmd
    log = case_dir / f"log.{log_name}"
    with open(log, "w") as out:
        proc = subprocess.Popen(full, cwd=case_dir, stdout=out, stderr=subprocess.STDOUT, env=openfoam_env())
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-25:])
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}) in {case_dir}; end of {log}:\n{tail}")
    return usage.ru_utime + usage.ru_stime


def prepare(case_dir: str | Path, case: CylinderCase) -> int:
    """Write dictionaries, mesh with gmsh, convert with gmshToFoam, set patch types; returns n cells."""
    require_openfoam("gmshToFoam", "foamDictionary")
    if case.mesh not in MESHES:
        raise EchoUserError(f"unknown mesh {case.mesh!r}; choose one of {sorted(MESHES)}")
    case_dir = Path(case_dir)
    case_dir.mkdir(parents=True, exist_ok=True)
    write_dictionaries(case_dir, case)
    n_cells = write_mesh(case_dir / "cylinder.msh", case.cx, case.cy, MESHES[case.mesh], case.obstacle)
    _run(["gmshToFoam", "cylinder.msh"], case_dir, "gmshToFoam")
    boundary = "constant/polyMesh/boundary"
    for patch, ptype in PATCH_TYPES.items():
        if ptype != "patch":
            _run(["foamDictionary", boundary, "-entry", f"entry0/{patch}/type", "-set", ptype],
                 case_dir, f"foamDictionary.{patch}")
    (case_dir / "cylinder.msh").unlink()
    return n_cells


def solve(case_dir: str | Path, nice: int = 10) -> float:
    """Run pimpleFoam; returns its CPU seconds."""
    require_openfoam("pimpleFoam")
    return _run(["pimpleFoam"], Path(case_dir), "pimpleFoam", nice=nice)


def latest_log_time(case_dir: str | Path) -> float:
    """Simulated time reached so far, from the end of log.pimpleFoam (0 if none yet)."""
    log = Path(case_dir) / "log.pimpleFoam"
    try:
        with open(log, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 4000))
            tail = f.read().decode(errors="replace")
    except OSError:
        return 0.0
    for line in reversed(tail.splitlines()):
        if line.startswith("Time = "):
            try:
                return float(line.split("=", 1)[1])
            except ValueError:
                return 0.0
    return 0.0


def read_force_coeffs(case_dir: str | Path) -> dict[str, np.ndarray]:
    """Columns of postProcessing/forceCoeffs/<t>/forceCoeffs.dat (or coefficient.dat) by name."""
    root = Path(case_dir) / "postProcessing" / "forceCoeffs"
    files = sorted(root.glob("*/forceCoeffs.dat")) + sorted(root.glob("*/coefficient.dat"))
    if not files:
        raise FileNotFoundError(f"no forceCoeffs output under {root}: did pimpleFoam run with the forceCoeffs function?")
    names: list[str] = []
    rows: list[list[float]] = []
    for path in files:
        for line in path.read_text().splitlines():
            if line.startswith("#"):
                words = line[1:].split()
                if words and words[0] == "Time":
                    names = words
                continue
            if line.strip():
                rows.append([float(v) for v in line.split()])
    if not names:
        raise EchoUserError(f"{files[0]} has no '# Time ...' header line")
    data = np.asarray(rows, dtype=np.float64)
    # restarts can repeat times: keep the last value of each time, in order
    _, keep = np.unique(data[::-1, 0], return_index=True)
    data = data[::-1][keep]
    return {n: data[:, i] for i, n in enumerate(names[: data.shape[1]])}
