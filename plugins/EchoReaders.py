"""ParaView readers for ECHO's files: decorated thin subclasses of echo_paraview.readers.

File > Open (and `paraview.simple.OpenDataFile`) offers them by extension, then asks each
reader's `CanReadFile`, which checks the content: an ECHO dataset's root `format` attribute,
The Well's dimensions/ and t*_fields/ groups, an ECHO model's safetensors header. ParaView 5.11
calls `CanReadFile` on Python readers too, so an HDF5 file of another kind is left to other
readers (or refused) instead of being opened by the wrong one.

Labels are identifier-like on purpose: paraview.simple names its constructors after them
(EchoDatasetReader(...), WellReader(...), EchoModelReader(...)). Panel order follows the method
names (P00_, P01_, ...) in 5.11.
"""
from paraview.util.vtkAlgorithm import smdomain, smhint, smproperty, smproxy

from echo_paraview.readers import EchoDatasetReaderAlgorithm, EchoModelReaderAlgorithm, WellReaderAlgorithm

_INFO_XML = """
<StringVectorProperty name="{name}" command="{command}" information_only="1" number_of_elements="1" default_values="">
  <SimpleStringInformationHelper/>
</StringVectorProperty>
"""

_TRAJECTORIES_XML = """
<StringVectorProperty name="Trajectories" command="P02_SetTrajectories" number_of_elements="1" default_values="">
  <Documentation>Several trajectories as a multiblock, e.g. "0-3,7" or "all" (one block each, on
  the union of their time steps). Empty: only the trajectory chosen in Trajectory.</Documentation>
</StringVectorProperty>
"""


@smproxy.reader(name="EchoDatasetReader", label="EchoDatasetReader", extensions="h5 hdf5",
                file_description="ECHO datasets")
class EchoDatasetReader(EchoDatasetReaderAlgorithm):
    """An ECHO dataset: one trajectory with time steps and its PDE parameters (param_<name>)."""

    @smproperty.stringvector(name="FileName", panel_visibility="never")
    @smdomain.filelist()
    @smhint.filechooser(extensions="h5 hdf5", file_description="ECHO datasets")
    def P00_SetFileName(self, name):
        self.SetFileName(name)

    @smproperty.intvector(name="Trajectory", default_values=0)
    @smdomain.intrange(min=0, max=100000)
    def P01_SetTrajectory(self, index):
        """Index of the trajectory shown (its split, parameters and frames: TrajectoryInfo)."""
        self.SetTrajectory(index)

    @smproperty.xml(_TRAJECTORIES_XML)
    def P02_SetTrajectories(self, text):
        self.SetTrajectories(text)

    @smproperty.dataarrayselection(name="PointArrays")
    def P03_GetPointArraySelection(self):
        return self.GetPointArraySelection()

    @smproperty.xml(_INFO_XML.format(name="TrajectoryInfo", command="P04_GetTrajectoryInfo"))
    def P04_GetTrajectoryInfo(self):
        return self.GetTrajectoryInfo()

    @smproperty.doublevector(name="TimestepValues", information_only="1", si_class="vtkSITimeStepsProperty")
    def GetTimestepValues(self):
        return EchoDatasetReaderAlgorithm.GetTimestepValues(self)


@smproxy.reader(name="WellReader", label="WellReader", extensions="hdf5 h5",
                file_description="The Well HDF5 files")
class WellReader(WellReaderAlgorithm):
    """A file of The Well: one sample on its grid (image or rectilinear), with time steps."""

    @smproperty.stringvector(name="FileName", panel_visibility="never")
    @smdomain.filelist()
    @smhint.filechooser(extensions="hdf5 h5", file_description="The Well HDF5 files")
    def P00_SetFileName(self, name):
        self.SetFileName(name)

    @smproperty.intvector(name="Sample", default_values=0)
    @smdomain.intrange(min=0, max=100000)
    def P01_SetSample(self, index):
        """Index of the trajectory (sample) of the file shown."""
        self.SetSample(index)

    @smproperty.dataarrayselection(name="PointArrays")
    def P02_GetPointArraySelection(self):
        return self.GetPointArraySelection()

    @smproperty.doublevector(name="TimestepValues", information_only="1", si_class="vtkSITimeStepsProperty")
    def GetTimestepValues(self):
        return WellReaderAlgorithm.GetTimestepValues(self)


@smproxy.reader(name="EchoModelReader", label="EchoModelReader", extensions="safetensors",
                file_description="ECHO model files")
class EchoModelReader(EchoModelReaderAlgorithm):
    """An ECHO model file's description (fields, dt, domain, parameters, latent grid, provenance)
    as a table: open it in a Spreadsheet view."""

    @smproperty.stringvector(name="FileName", panel_visibility="never")
    @smdomain.filelist()
    @smhint.filechooser(extensions="safetensors", file_description="ECHO model files")
    def P00_SetFileName(self, name):
        self.SetFileName(name)
