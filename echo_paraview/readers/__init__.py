"""ECHO's VTK readers (plain `vtkmodules`, no `paraview`): decorated in plugins/EchoReaders.py.

    EchoDatasetReaderAlgorithm   ECHO datasets (.h5): one trajectory (or a multiblock), lazy per frame
    WellReaderAlgorithm          The Well's HDF5 files: image / rectilinear grids, lazy per time
    EchoModelReaderAlgorithm     ECHO model files (.safetensors): their description as a vtkTable
"""
from .base import ReaderError
from .dataset_reader import EchoDatasetReaderAlgorithm, is_echo_dataset
from .model_reader import EchoModelReaderAlgorithm, is_echo_model
from .well_reader import WellReaderAlgorithm

__all__ = [
    "ReaderError",
    "EchoDatasetReaderAlgorithm",
    "EchoModelReaderAlgorithm",
    "WellReaderAlgorithm",
    "is_echo_dataset",
    "is_echo_model",
]
