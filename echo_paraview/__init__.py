"""VTK side of echo-paraview: VTK <-> tensor adapters, VTK algorithms, the launcher and the CLI.

Imports `vtkmodules` only (never `paraview`, never pyvista), so everything here works in plain
VTK and inside pvpython/pvbatch/the GUI alike.
"""
__version__ = "0.1.0"
