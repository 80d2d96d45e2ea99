"""ECHO ParaView plugin: decorated thin subclasses only (the logic lives in echo_paraview).

Loaded automatically by `echopv paraview|pvpython|pvbatch` (PV_PLUGIN_PATH points at this
folder, so every .py here is loaded as a plugin: keep helpers out of it).

ParaView 5.11 quirk that shapes this file: the Properties panel lists a Python plugin's
properties ALPHABETICALLY BY PYTHON METHOD NAME (declaration order only arrives in 5.13), so the
decorated methods carry a P<nn>_ prefix that fixes their order. The property *names*
(Checkpoint, NumberOfFrames, ...) and the plain-VTK setters (SetCheckpoint, ...) are unaffected.
"""
from paraview.util.vtkAlgorithm import smdomain, smhint, smproperty, smproxy

try:
    from echo_paraview.rollout_filter import EchoRolloutAlgorithm
except ImportError as exc:  # shown in Output Messages when the plugin is loaded by hand
    raise ImportError(
        f"ECHO plugin: cannot import echo_paraview ({exc}). Start ParaView with `echopv paraview` "
        f"(after `bash scripts/setup.sh`), which puts the package and its venv on ParaView's path."
    ) from exc

paraview_plugin_name = "EchoPlugin"
paraview_plugin_version = "0.1.0"

_INPUT_ARRAYS_XML = """
<StringVectorProperty name="InputArrays" command="P01_AddInputArray" clean_command="ClearInputArrays"
    repeat_command="1" number_of_elements_per_command="1" number_of_elements="0">
  <ArrayListDomain name="array_list" input_domain_name="input_point_arrays">
    <RequiredProperties><Property name="Input" function="Input"/></RequiredProperties>
  </ArrayListDomain>
  <Hints><NoDefault/></Hints>
  <Documentation>Point arrays fed to the model, one per model field and in the model's field
  order. Leave empty to match the model's fields by name.</Documentation>
</StringVectorProperty>
"""

_DEVICE_XML = """
<StringVectorProperty name="Device" command="P06_SetDevice" number_of_elements="1" default_values="auto"
    panel_visibility="advanced">
  <StringListDomain name="list">
    <String value="auto"/><String value="cpu"/><String value="cuda"/>
  </StringListDomain>
  <Documentation>Where the model runs: auto picks cuda when available.</Documentation>
</StringVectorProperty>
"""


@smproxy.filter(name="EchoRollout", label="EchoRollout")
@smhint.xml('<ShowInMenu category="ECHO"/>')
@smproperty.input(name="Input", port_index=0)
@smdomain.datatype(dataTypes=["vtkDataSet"], composite_data_supported=False)
@smdomain.xml('<InputArrayDomain name="input_point_arrays" attribute_type="point"/>')
class EchoRollout(EchoRolloutAlgorithm):
    """Predict the input's point field(s) forward in time with an ECHO surrogate (temporal output)."""

    @smproperty.stringvector(name="Checkpoint", default_values="")
    @smdomain.filelist()
    @smhint.filechooser(extensions="safetensors", file_description="ECHO model files")
    def P00_SetCheckpoint(self, path):
        self.SetCheckpoint(path)

    @smproperty.xml(_INPUT_ARRAYS_XML)
    def P01_AddInputArray(self, name):
        self.AddInputArray(name)

    @smproperty.intvector(name="NumberOfFrames", default_values=10)
    @smdomain.intrange(min=1, max=500)
    def P02_SetNumberOfFrames(self, n):
        self.SetNumberOfFrames(n)

    @smproperty.intvector(name="NumberOfSamples", default_values=1)
    @smdomain.intrange(min=1, max=64)
    def P03_SetNumberOfSamples(self, n):
        self.SetNumberOfSamples(n)

    @smproperty.intvector(name="Seed", default_values=0, panel_visibility="advanced")
    def P04_SetSeed(self, seed):
        self.SetSeed(seed)

    @smproperty.intvector(name="SamplingSteps", default_values=0, panel_visibility="advanced")
    @smdomain.intrange(min=0, max=200)
    def P05_SetSamplingSteps(self, n):
        """0 uses the model's own number of sampler steps."""
        self.SetSamplingSteps(n)

    @smproperty.xml(_DEVICE_XML)
    def P06_SetDevice(self, device):
        self.SetDevice(device)

    @smproperty.intvector(name="NumberOfThreads", default_values=0, panel_visibility="advanced")
    @smdomain.intrange(min=0, max=256)
    def P07_SetNumberOfThreads(self, n):
        """0 keeps torch's default thread count."""
        self.SetNumberOfThreads(n)

    @smproperty.doublevector(name="TimestepValues", information_only="1", si_class="vtkSITimeStepsProperty")
    def GetTimestepValues(self):
        return EchoRolloutAlgorithm.GetTimestepValues(self)
