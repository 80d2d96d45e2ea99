"""`echopv`: the one command line (not `echo`, a shell builtin).

Each command lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`
(or `run_raw(argv) -> int` for commands that pass their arguments through, like the ParaView
launcher). Modules are imported only when their command runs, so `echopv --help` is instant and a
broken optional dependency only breaks the command that needs it.

This file sits in echo_paraview (the outer layer) because some commands need VTK; it imports
nothing from VTK itself.
"""
from __future__ import annotations

from echo_model.errors import EchoUserError  # importing echo_model applies its thread policy first

import argparse
import errno
import importlib
import os
import sys
from typing import Sequence

# (words, module, one-line help). Longest match wins, so "train ae" beats "train".
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("demo",), "echo_paraview.demo", "run the main job on the embedded sample case and render it"),
    (("demo", "ns3d"), "echo_paraview.demo_ns3d", "3D demo: ECHO vs the spectral solver on Taylor-Green turbulence, rendered in ParaView"),
    (("generate", "ns2d"), "echo_model.cases.ns2d", "2D Navier-Stokes vorticity trajectories (pseudo-spectral)"),
    (("generate", "ns3d"), "echo_model.cases.ns3d", "3D periodic Navier-Stokes trajectories (pseudo-spectral)"),
    (("generate", "cylinder"), "echo_model.cases.cylinder", "OpenFOAM cylinder-wake family (gmsh + pimpleFoam)"),
    (("generate", "cached"), "echo_model.cases.cached", "a named training-scale dataset, generated once into the cache"),
    (("import",), "echo_paraview.io.importer", "convert OpenFOAM / .pvd / .vtu series / The Well / meshes to an ECHO dataset"),
    (("export",), "echo_paraview.io.exporter", "write a dataset's trajectories as .pvd + .vtu series for ParaView"),
    (("info",), "echo_model.info", "describe an ECHO dataset (.h5) or model file (.safetensors)"),
    (("train", "ae"), "echo_model.train.stage_ae", "stage 1: trajectory autoencoder on low-resolution windows"),
    (("train", "refine"), "echo_model.train.stage_refine", "stage 2: refine the autoencoder on high-resolution frames"),
    (("cache-latents",), "echo_model.train.cache_latents", "encode a dataset once with the frozen autoencoder"),
    (("train", "dit"), "echo_model.train.stage_dit", "stage 3: latent diffusion transformer (flow matching)"),
    (("train", "all"), "echo_model.train.pipeline", "all stages (ae -> refine -> cache-latents -> dit) into RUN/model.safetensors"),
    (("train", "dmd"), "echo_model.train.stage_dmd", "a DMD model (dynamic mode decomposition) fitted on one mesh's runs"),
    (("train", "hybrid"), "echo_model.train.stage_hybrid", "DMD for the coherent part + ECHO for what DMD gets wrong"),
    (("train", "baseline"), "echo_model.train.stage_baseline", "deterministic latent baseline (same AE and transformer)"),
    (("rollout",), "echo_paraview.rollout_command", "predict a trajectory and write it as a .pvd series"),
    (("anchor-gains",), "echo_model.anchor", "fit the decoder error feedback of a model on training data"),
    (("eval",), "echo_model.evaluate", "metrics and plots of a model on a dataset split"),
    (("paraview",), "echo_paraview.launcher", "start the ParaView GUI with the ECHO plugin loaded"),
    (("pvpython",), "echo_paraview.launcher", "start pvpython with the ECHO plugin available"),
    (("pvbatch",), "echo_paraview.launcher", "start pvbatch with the ECHO plugin available"),
    (("pvserver",), "echo_paraview.launcher", "start a ParaView server (pvserver) with the ECHO plugin loaded"),
]


class UserError(EchoUserError):
    """An error the user can fix; printed without a traceback."""


def _usage() -> str:
    lines = ["usage: echopv COMMAND [options]   (echopv COMMAND --help for details)", "", "commands:"]
    for words, _, text in COMMANDS:
        lines.append(f"  {' '.join(words):<18} {text}")
    lines += ["", "set ECHOPV_DEBUG=1 to see tracebacks."]
    return "\n".join(lines)


def _match(argv: Sequence[str]) -> tuple[tuple[str, ...], str] | None:
    best = None
    for words, module, _ in COMMANDS:
        if tuple(argv[: len(words)]) == words and (best is None or len(words) > len(best[0])):
            best = (words, module)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _dispatch(argv)
        sys.stdout.flush()  # a closed pipe shows up here, while the handler below can still catch it
        return code
    except BrokenPipeError:
        # the reader stopped early (`echopv info FILE | head`): the Python recipe, point stdout at
        # devnull so the interpreter's own flush at exit cannot raise again, and leave quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _dispatch(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    found = _match(argv)
    if found is None:
        print(f"echopv: unknown command {' '.join(argv[:2])!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    words, module_name = found
    rest = argv[len(words):]
    try:
        module = importlib.import_module(module_name)
        if hasattr(module, "run_raw"):
            return int(module.run_raw(words, rest) or 0)
        parser = argparse.ArgumentParser(prog="echopv " + " ".join(words), description=module.__doc__)
        module.add_arguments(parser)
        args = parser.parse_args(rest)
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("echopv: interrupted", file=sys.stderr)
        return 130
    except (EchoUserError, FileNotFoundError) as exc:  # anything else is a bug: its traceback stays
        if os.environ.get("ECHOPV_DEBUG"):
            raise
        print(f"echopv {' '.join(words)}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        fix = _file_problem(exc)
        if fix is None or os.environ.get("ECHOPV_DEBUG"):
            raise
        print(f"echopv {' '.join(words)}: error: {fix}", file=sys.stderr)
        return 2


# a file or folder the user named cannot be written or created: say which and what to do (not a traceback)
_FILE_FIXES = {
    errno.EACCES: "choose a folder you can write to", errno.EPERM: "choose a folder you can write to",
    errno.EROFS: "the file system is read-only: choose another folder",
    errno.ENOTDIR: "a file stands where a folder is needed: choose another path or remove it",
    errno.EEXIST: "a file stands where a folder is needed: choose another path or remove it",
    errno.EISDIR: "a folder stands where a file is needed: choose another file name",
    errno.ELOOP: "the path is a symbolic link that loops: remove the link",
    errno.ENOSPC: "the disk is full: free some space or write to another disk",
    errno.EDQUOT: "the disk quota is exhausted: free some space or write to another disk",
}


def _file_problem(exc: OSError) -> str | None:
    """'PATH: what went wrong; the fix' for an OSError about a file the user named, else None (a bug)."""
    fix = _FILE_FIXES.get(exc.errno)
    if fix is None or not exc.filename:
        return None
    return f"{exc.filename}: {exc.strerror}; {fix}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
