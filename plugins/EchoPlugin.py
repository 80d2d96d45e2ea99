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
    from echo_paraview.train_filter import EchoTrainAlgorithm
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

    @smproperty.stringvector(name="Parameters", default_values="")
    def P08_SetParameters(self, text):
        """PDE parameters as name=value pairs (e.g. nu=2.4e-4). Empty: the input's param_<name>
        field data (written by `echopv export`), else the training mean."""
        self.SetParameters(text)

    @smproperty.doublevector(name="TimestepValues", information_only="1", si_class="vtkSITimeStepsProperty")
    def GetTimestepValues(self):
        return EchoRolloutAlgorithm.GetTimestepValues(self)


# --- EchoTrain: start/watch out-of-process training (the filter itself only passes data through) ---
_RUN_DIRECTORY_XML = """
<StringVectorProperty name="RunDirectory" command="P01_SetRunDirectory" number_of_elements="1" default_values="">
  <FileListDomain name="files"/>
  <Hints><UseDirectoryName/></Hints>
  <Documentation>Folder of the training run: logs (train.log), progress, and the final
  model.safetensors. Rerunning Start in the same folder continues an interrupted run.</Documentation>
</StringVectorProperty>
"""

_PRESET_XML = """
<StringVectorProperty name="Preset" command="P02_SetPreset" number_of_elements="1" default_values="tiny">
  <StringListDomain name="list">
    <String value="tiny"/><String value="small"/><String value="paper"/>
  </StringListDomain>
  <Documentation>Model size: tiny (CPU, minutes), small, paper (GPU).</Documentation>
</StringVectorProperty>
"""

_EXTRA_XML = """
<StringVectorProperty name="ExtraArguments" command="P07_SetExtraArguments" number_of_elements="1"
    default_values="" panel_visibility="advanced">
  <Documentation>More `echopv train all` options, e.g. "--grid 16 --n-query 256".</Documentation>
</StringVectorProperty>
"""

_BUTTONS_XML = {
    "Start": '<Property name="Start" command="P10_Start" panel_widget="command_button">'
             "<Documentation>Export the input (when Dataset is empty) and start training in a separate "
             "process; returns at once.</Documentation></Property>",
    "Refresh": '<Property name="Refresh" command="P11_Refresh" panel_widget="command_button">'
               "<Documentation>Read the training progress into Status.</Documentation></Property>",
    "Stop": '<Property name="Stop" command="P12_Stop" panel_widget="command_button">'
            "<Documentation>Stop the training process (Start continues from the last checkpoint).</Documentation></Property>",
}

_INFO_XML = """
<StringVectorProperty name="{name}" command="{command}" information_only="1" number_of_elements="1" default_values="">
  <SimpleStringInformationHelper/>
</StringVectorProperty>
"""


@smproxy.filter(name="EchoTrain", label="EchoTrain")
@smhint.xml('<ShowInMenu category="ECHO"/>')
@smproperty.input(name="Input", port_index=0)
@smdomain.datatype(dataTypes=["vtkDataSet"], composite_data_supported=False)
class EchoTrain(EchoTrainAlgorithm):
    """Train an ECHO model on the input's time series (or a dataset file), out of process."""

    @smproperty.stringvector(name="Dataset", default_values="")
    @smdomain.filelist()
    @smhint.filechooser(extensions="h5", file_description="ECHO datasets")
    def P00_SetDataset(self, path):
        """Empty: the input's time steps are exported to RunDirectory/dataset.h5."""
        self.SetDataset(path)

    @smproperty.xml(_RUN_DIRECTORY_XML)
    def P01_SetRunDirectory(self, path):
        self.SetRunDirectory(path)

    @smproperty.xml(_PRESET_XML)
    def P02_SetPreset(self, preset):
        self.SetPreset(preset)

    @smproperty.intvector(name="AutoencoderSteps", label="Autoencoder Steps", default_values=1500)
    @smdomain.intrange(min=1, max=1000000)
    def P03_SetAESteps(self, n):
        self.SetAESteps(n)

    @smproperty.intvector(name="RefineSteps", default_values=100)
    @smdomain.intrange(min=0, max=1000000)
    def P04_SetRefineSteps(self, n):
        """0 skips stage 2 (single-frame refinement)."""
        self.SetRefineSteps(n)

    @smproperty.intvector(name="DiTSteps", label="DiT Steps", default_values=3000)
    @smdomain.intrange(min=1, max=1000000)
    def P05_SetDiTSteps(self, n):
        self.SetDiTSteps(n)

    @smproperty.intvector(name="Threads", default_values=1)
    @smdomain.intrange(min=0, max=256)
    def P06_SetThreads(self, n):
        """torch CPU threads of the training process (0 = torch's default)."""
        self.SetThreads(n)

    @smproperty.xml(_EXTRA_XML)
    def P07_SetExtraArguments(self, args):
        self.SetExtraArguments(args)

    @smproperty.xml(_BUTTONS_XML["Start"])
    def P10_Start(self):
        self.Start()

    @smproperty.xml(_BUTTONS_XML["Refresh"])
    def P11_Refresh(self):
        self.Refresh()

    @smproperty.xml(_BUTTONS_XML["Stop"])
    def P12_Stop(self):
        self.Stop()

    @smproperty.xml(_INFO_XML.format(name="Status", command="P20_GetStatus"))
    def P20_GetStatus(self):
        return self.GetStatus()

    @smproperty.xml(_INFO_XML.format(name="ModelPath", command="P21_GetModelPath"))
    def P21_GetModelPath(self):
        return self.GetModelPath()
