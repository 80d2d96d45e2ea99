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
    from echo_paraview.rollout_filter import MAX_FRAMES, EchoRolloutAlgorithm
    from echo_paraview.rollout_task import TASK_LABELS
    from echo_paraview.train_filter import EchoTrainAlgorithm
    from echo_paraview.training import TrainSettings
except ImportError as exc:  # shown in Output Messages when the plugin is loaded by hand
    raise ImportError(
        f"ECHO plugin: cannot import echo_paraview ({exc}). Start ParaView with `echopv paraview` "
        f"(after `bash scripts/setup.sh`), which puts the package and its venv on ParaView's path."
    ) from exc

_TRAIN = TrainSettings()  # the panel's defaults are the recipe's (echo_model.train.runs), never literals here

paraview_plugin_name = "EchoPlugin"
paraview_plugin_version = "0.1.0"

from xml.sax.saxutils import escape as _escape


def _doc(text: str):
    """Tooltip / help text of a property (ParaView shows it on hover and in Help)."""
    return smdomain.xml(f"<Documentation>{_escape(' '.join(text.split()))}</Documentation>")


_INPUT_ARRAYS_XML = """
<StringVectorProperty name="InputArrays" command="P01_AddInputArray" clean_command="ClearInputArrays"
    repeat_command="1" number_of_elements_per_command="1" number_of_elements="0">
  <ArrayListDomain name="array_list" input_domain_name="input_arrays">
    <RequiredProperties><Property name="Input" function="Input"/></RequiredProperties>
  </ArrayListDomain>
  <Hints><NoDefault/></Hints>
  <Documentation>Point or cell arrays fed to the model, one per model field and in the model's
  field order. Leave empty to match the model's fields by name. A 3-component vector is accepted
  for a 2-component field of a 2D model (z is dropped).</Documentation>
</StringVectorProperty>
"""

_DEVICE_XML = """
<StringVectorProperty name="Device" command="P06_SetDevice" number_of_elements="1" default_values="auto"
    panel_visibility="advanced">
  <StringListDomain name="list">
    <String value="auto"/><String value="cpu"/><String value="cuda"/>
  </StringListDomain>
  <Documentation>Where the model runs: auto picks cuda when torch sees a GPU, else cpu.</Documentation>
</StringVectorProperty>
"""

_ROLLOUT_DOC = """
<Documentation short_help="Predict fields forward in time with an ECHO surrogate model."
    long_help="Predict the input's fields forward in time with an ECHO generative surrogate (temporal output).">
EchoRollout predicts the input's field(s) forward in time with an ECHO model file (Checkpoint).
It takes the input at the start time (StartTime: its first step, the current time, or a value)
as the initial condition and adds NumberOfFrames predicted frames, each one model time step dt
after the previous. The output's time steps are all the input's steps and the predicted ones,
each time once; at and before the start the output is the input itself.
Output arrays: FIELD_pred (the prediction; the ensemble mean when NumberOfSamples is above 1),
FIELD_std (ensemble spread), and where the input has data at a predicted time (the solver's
own series): FIELD_truth, FIELD_error (= pred - truth) and the field data FIELD_rel_mse
(relative MSE of the frame; Plot Global Variables Over Time draws the error curve). Every step
has the same arrays; a value that does not exist at a step is NaN (no solver data at a forecast
time, no forecast at a solver step). Inputs:
any dataset or multiblock (e.g. the OpenFOAM reader) with point or cell data; cell data is
predicted at the cell centres and written back as cell data. Warnings about the fit between
the data and the model (domain, time step, parameters) appear in Output Messages.
Task picks what the model does instead of the forecast: Interpolate (a frame every dt between
input steps saved 2 to 8 model steps apart, the input's steps kept), Reconstruct (the full field
on the Target mesh from values at the Input's sparse points), Inverse (NumberOfFrames before the
start) or Sample (NumberOfFrames from the mesh and the parameters alone).
</Documentation>
"""

_TARGET_XML = """
<InputProperty name="Target" port_index="1" command="SetInputConnection" null_on_empty="1">
  <Hints><Optional/></Hints>
  <ProxyGroupDomain name="groups"><Group name="sources"/><Group name="filters"/></ProxyGroupDomain>
  <DataTypeDomain name="input_type" composite_data_supported="1">
    <DataType value="vtkDataSet"/><DataType value="vtkCompositeDataSet"/>
  </DataTypeDomain>
  <Documentation>Task Reconstruct only: the mesh to predict the full field on (its points). The Input
  then holds the field at sparse points (probes) over its time steps. Empty: the Input's own points.
  Set it from Python (EchoRollout(Input=probes, Target=mesh, Task="Reconstruct")) or with
  Change Input in the pipeline browser.</Documentation>
</InputProperty>
"""

_TASK_ENUM = ('<EnumerationDomain name="enum">' + "".join(
    f'<Entry value="{i}" text="{label}"/>' for i, label in enumerate(TASK_LABELS)) + "</EnumerationDomain>")

_START_ENUM = ('<EnumerationDomain name="enum"><Entry value="0" text="first"/>'
               '<Entry value="1" text="current"/><Entry value="2" text="value"/></EnumerationDomain>')
_ASSOC_ENUM = ('<EnumerationDomain name="enum"><Entry value="0" text="auto"/>'
               '<Entry value="1" text="points"/><Entry value="2" text="cells"/></EnumerationDomain>')


def _share_lut(pvs, field, pred, lo, hi):
    """Make `pred` use `field`'s colour and opacity functions: ParaView finds a colour map by the
    array's name ("<name>.PVLookupTable"), so the one proxy is registered under both names."""
    pxm = pvs.servermanager.ProxyManager()
    lut, pwf = pvs.GetColorTransferFunction(field), pvs.GetOpacityTransferFunction(field)
    for group, name, proxy, prop in (("lookup_tables", f"{pred}.PVLookupTable", lut, "LookupTable"),
                                     ("piecewise_functions", f"{pred}.PiecewiseFunction", pwf,
                                      "ScalarOpacityFunction")):
        old = pxm.GetProxy(group, name)
        if old is not None and old.SMProxy is proxy.SMProxy:
            continue
        if old is not None:  # an earlier separate map: shown data that used it switch over
            pxm.UnRegisterProxy(group, name, old)
            _replace_in_representations(pvs, prop, old, proxy)
        pxm.RegisterProxy(group, name, proxy)
    if hi > lo:  # start from the range of both (the user's rescale buttons still work: no "Never" lock)
        lut.RescaleTransferFunction(lo, hi)
        pwf.RescaleTransferFunction(lo, hi)


def _diverging_lut(pvs, name, err):
    """A diverging map centred on 0 over +-max|error|, kept until the next rollout."""
    lut = pvs.GetColorTransferFunction(name)
    lut.ApplyPreset(DIVERGING_PRESET, True)
    m = err if err > 0 else 1.0
    lut.AutomaticRescaleRangeMode = "Never"
    lut.RescaleTransferFunction(-m, m)
    pvs.GetOpacityTransferFunction(name).RescaleTransferFunction(-m, m)


def _replace_in_representations(pvs, prop, old, new):
    """Representations whose `prop` (LookupTable, ScalarOpacityFunction) is `old` now use `new`."""
    for rep in pvs.servermanager.ProxyManager().GetProxiesInGroup("representations").values():
        if rep.GetProperty(prop) is None:
            continue
        cur = rep.GetPropertyValue(prop)
        if cur is not None and cur.SMProxy is old.SMProxy:
            rep.SetPropertyWithName(prop, new)


DIVERGING_PRESET = "Blue Orange (divergent)"


def _show_information(algorithm):
    """Re-read the information properties (Status, ModelPath) of the proxy of `algorithm`, so the
    Properties panel shows them as soon as a button has run (ParaView 5.11 re-reads them only when
    asked; the panel kept the Status it had when the filter was created)."""
    try:
        from paraview import servermanager as sm

        for proxy in sm.ProxyManager().GetProxiesInGroup("sources").values():
            if proxy.GetClientSideObject() is algorithm:
                proxy.SMProxy.UpdatePropertyInformation()
    except Exception:  # cosmetic: the Output Messages line has said it already
        pass


@smproxy.filter(name="EchoRollout", label="EchoRollout")
@smhint.xml('<ShowInMenu category="ECHO"/>')
@smproperty.xml(_ROLLOUT_DOC)
@smproperty.xml(_TARGET_XML)
@smproperty.input(name="Input", port_index=0)
@smdomain.datatype(dataTypes=["vtkDataSet", "vtkCompositeDataSet"], composite_data_supported=True)
@smdomain.xml('<InputArrayDomain name="input_arrays" attribute_type="any-except-field"/>')
class EchoRollout(EchoRolloutAlgorithm):
    """Predict the input's field(s) forward in time with an ECHO surrogate (temporal output)."""

    def current_time(self):
        """StartTime "current": the animation time when the filter is set up (Apply)."""
        try:
            from paraview.simple import GetTimeKeeper

            return float(GetTimeKeeper().Time)
        except Exception:  # no session (plain VTK use of this class): the last requested time
            return EchoRolloutAlgorithm.current_time(self)

    def after_rollout(self):
        """Colour maps after each rollout (issue 22): FIELD_std over the predicted frames (not the
        all-zero start frame), FIELD_error diverging and centred on 0 (+-max|error|), FIELD and
        FIELD_pred one shared transfer function over both (solver and forecast compared by eye).
        The ranges come from the algorithm (echo_paraview.rollout_colours)."""
        try:
            import paraview.simple as pvs  # lazily: the GUI imports it only with the Python shell
        except Exception:  # no ParaView session (the class used outside ParaView)
            return
        try:
            rng = self.GetCacheRange("_std")
            if rng is not None and rng[1] > 0:
                for name in self.GetStdNames():
                    pvs.GetColorTransferFunction(name).RescaleTransferFunction(0.0, rng[1])
            for r in self.GetFieldRanges():
                _share_lut(pvs, r.name, f"{r.name}_pred", r.lo, r.hi)
                if r.error is not None:
                    _diverging_lut(pvs, f"{r.name}_error", r.error)
        except Exception:  # cosmetic: never fail a rollout over a colour map
            pass

    @smproperty.stringvector(name="Checkpoint", default_values="")
    @smdomain.filelist()
    @smhint.filechooser(extensions="safetensors", file_description="ECHO model files")
    @_doc("""The ECHO model file (.safetensors, from `echopv train dit` or EchoTrain), or a finished
    training run's folder (its model.safetensors is used). The model fixes the predicted fields,
    the time step dt and the PDE parameters it is conditioned on.""")
    def P00_SetCheckpoint(self, path):
        self.SetCheckpoint(path)

    @smproperty.intvector(name="Task", default_values=0)
    @smdomain.xml(_TASK_ENUM)
    @_doc("""What the model does with the input. Forecast: NumberOfFrames after the start time.
    Interpolate: a frame every model dt between the input's first and last step; the input's steps must
    be 2 to 8 model steps apart (thin a series with Extract Time Steps) and stay exact. Reconstruct: the
    full field at the input's steps on the Target mesh (the second input) from the values at the input's
    sparse points. Inverse: NumberOfFrames before the start time. Sample: NumberOfFrames from the start
    time, drawn from the mesh and the parameters alone (NumberOfSamples members). A task the model was not
    trained for is refused in Output Messages.""")
    def P00b_SetTask(self, task):
        self.SetTask(task)

    @smproperty.xml(_INPUT_ARRAYS_XML)
    def P01_AddInputArray(self, name):
        self.AddInputArray(name)

    @smproperty.intvector(name="NumberOfFrames", default_values=10)
    @smdomain.intrange(min=1, max=MAX_FRAMES)
    @_doc("""Frames to predict after the start time. Each frame advances by the model's time step dt
    (in the model's time units, e.g. seconds): the last predicted time is start + NumberOfFrames * dt,
    printed in Output Messages and visible as the output's time steps. The algorithm caps it at 2000.""")
    def P02_SetNumberOfFrames(self, n):
        self.SetNumberOfFrames(n)

    @smproperty.intvector(name="NumberOfSamples", default_values=1)
    @smdomain.intrange(min=1, max=64)
    @_doc("""Ensemble members drawn from the generative model (1 to 64). Above 1, FIELD_pred is the
    ensemble mean and FIELD_std its standard deviation (same units as the field); cost grows linearly.""")
    def P03_SetNumberOfSamples(self, n):
        self.SetNumberOfSamples(n)

    @smproperty.intvector(name="StartTime", default_values=0)
    @smdomain.xml(_START_ENUM)
    @_doc("""Where the prediction starts: first = the input's first time step (or the n-th for a model
    that needs n observed frames); current = the animation time when Apply is pressed (snapped down to
    an input step); value = StartTimeValue. The input's own steps up to the start stay in the output.""")
    def P04_SetStartTime(self, mode):
        self.SetStartTime(mode)

    @smproperty.doublevector(name="StartTimeValue", default_values=0.0)
    @_doc("""Start time (input time units) used when StartTime is 'value'; snapped down to an input step.""")
    def P05_SetStartTimeValue(self, t):
        self.SetStartTimeValue(t)

    @smproperty.stringvector(name="Parameters", default_values="")
    @_doc("""PDE parameters as name=value pairs (e.g. 'Um=1.5, Re=100' or 'nu=2.4e-4'), in the units of
    the training data. Empty: the input's param_NAME field data (written by `echopv export`), else the
    training mean, named in Output Messages. Values outside the training range are reported.""")
    def P06_SetParameters(self, text):
        self.SetParameters(text)

    @smproperty.intvector(name="CompareWithInput", default_values=1)
    @smdomain.xml('<BooleanDomain name="bool"/>')
    @_doc("""Where the input has data at a predicted time (the solver's own series), add FIELD_truth,
    FIELD_error (= pred - truth) and per-frame FIELD_rel_mse field data. Between input steps the truth
    is interpolated linearly in time (field data truth_interpolated = 1).""")
    def P07_SetCompareWithInput(self, on):
        self.SetCompareWithInput(on)

    @smproperty.stringvector(name="Block", default_values="", panel_visibility="advanced")
    @_doc("""Multiblock inputs: the block the model reads, by name or path (e.g. internalMesh or
    boundary/inlet). Empty: all blocks the reader loaded, merged into one point set and written back
    per block.""")
    def P08_SetBlock(self, block):
        self.SetBlock(block)

    @smproperty.intvector(name="FieldAssociation", default_values=0, panel_visibility="advanced")
    @smdomain.xml(_ASSOC_ENUM)
    @_doc("""Read point data or cell data. auto: point data when the model's arrays are there, else cell
    data. Cell data is predicted at the cell centres and written back as cell data.""")
    def P09_SetFieldAssociation(self, assoc):
        self.SetFieldAssociation(assoc)

    @smproperty.intvector(name="Seed", default_values=0, panel_visibility="advanced")
    @_doc("""Random seed of the generative sampler: the same seed gives the same prediction.""")
    def P10_SetSeed(self, seed):
        self.SetSeed(seed)

    @smproperty.intvector(name="SamplingSteps", default_values=0, panel_visibility="advanced")
    @smdomain.intrange(min=0, max=200)
    @_doc("""Steps of the flow-matching sampler per generated segment; 0 uses the model's own number.
    More steps: slower, usually closer to the model's best.""")
    def P11_SetSamplingSteps(self, n):
        self.SetSamplingSteps(n)

    @smproperty.xml(_DEVICE_XML.replace("P06_SetDevice", "P12_SetDevice"))
    def P12_SetDevice(self, device):
        self.SetDevice(device)

    @smproperty.intvector(name="NumberOfThreads", default_values=0, panel_visibility="advanced")
    @smdomain.intrange(min=0, max=256)
    @_doc("""CPU threads torch may use for the rollout; 0 keeps torch's default (all cores).""")
    def P13_SetNumberOfThreads(self, n):
        self.SetNumberOfThreads(n)

    @smproperty.stringvector(name="MemoryBudget", default_values="", panel_visibility="advanced")
    @_doc("""Most memory the rollout may use, e.g. 2GB or 1500MB; empty: what the machine has free.
    A rollout that cannot fit is refused up front with its memory estimate.""")
    def P14_SetMemoryBudget(self, text):
        self.SetMemoryBudget(text)

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
<StringVectorProperty name="{name}" command="{command}" information_only="1" number_of_elements="1" default_values=""
    panel_visibility="default">
  <SimpleStringInformationHelper/>
  <Documentation>{doc}</Documentation>
</StringVectorProperty>
"""


@smproxy.filter(name="EchoTrain", label="EchoTrain")
@smhint.xml('<ShowInMenu category="ECHO"/>')
@smproperty.xml('<Documentation short_help="Train an ECHO model on the input time series, out of process." '
                'long_help="Train an ECHO model on the input time series (or a dataset file) in a separate process.">'
                'EchoTrain exports the input\'s time steps (or uses Dataset) and trains an ECHO model in a separate '
                '`echopv train all` process, so ParaView stays responsive. Start launches it, Refresh reads its '
                'progress into Status, Stop ends it (Start continues). When it is done, ModelPath names the model: '
                'set EchoRollout\'s Checkpoint to it, or to the RunDirectory. The data passes through unchanged.'
                '</Documentation>')
@smproperty.input(name="Input", port_index=0)
@smdomain.datatype(dataTypes=["vtkDataSet", "vtkCompositeDataSet"], composite_data_supported=True)
class EchoTrain(EchoTrainAlgorithm):
    """Train an ECHO model on the input's time series (or a dataset file), out of process."""

    @smproperty.stringvector(name="Dataset", default_values="")
    @smdomain.filelist()
    @smhint.filechooser(extensions="h5", file_description="ECHO datasets")
    @_doc("""An ECHO dataset (.h5, from `echopv import` or `echopv generate`) to train on. Empty: the input's
    time steps are exported to RunDirectory/dataset.h5 and used.""")
    def P00_SetDataset(self, path):
        """Empty: the input's time steps are exported to RunDirectory/dataset.h5."""
        self.SetDataset(path)

    @smproperty.xml(_RUN_DIRECTORY_XML)
    def P01_SetRunDirectory(self, path):
        self.SetRunDirectory(path)

    @smproperty.stringvector(name="Block", default_values="", panel_visibility="advanced")
    @_doc("""Multiblock inputs (e.g. the OpenFOAM reader): the block trained on, by name or path (e.g.
    internalMesh); empty merges every block the reader loaded into one mesh per time step.""")
    def P08_SetBlock(self, block):
        self.SetBlock(block)

    @smproperty.stringvector(name="TimeRange", default_values="")
    @_doc("""The input's time steps to train on, "start, end" in its time units (inclusive; "2," from t = 2
    on, ", 30" up to t = 30); empty: every step. Keep the rest of a run out of training to compare the
    forecast with it.""")
    def P09_SetTimeRange(self, text):
        self.SetTimeRange(text)

    @smproperty.xml(_PRESET_XML)
    def P02_SetPreset(self, preset):
        self.SetPreset(preset)

    @smproperty.intvector(name="AutoencoderSteps", label="Autoencoder Steps", default_values=_TRAIN.ae_steps)
    @smdomain.intrange(min=1, max=1000000)
    @_doc("""Optimizer steps of stage 1 (the point-cloud autoencoder).""")
    def P03_SetAESteps(self, n):
        self.SetAESteps(n)

    @smproperty.intvector(name="RefineSteps", default_values=_TRAIN.refine_steps)
    @smdomain.intrange(min=0, max=1000000)
    @_doc("""Optimizer steps of stage 2 (single-frame refinement of the autoencoder); 0 skips it.""")
    def P04_SetRefineSteps(self, n):
        """0 skips stage 2 (single-frame refinement)."""
        self.SetRefineSteps(n)

    @smproperty.intvector(name="DiTSteps", label="DiT Steps", default_values=_TRAIN.dit_steps)
    @smdomain.intrange(min=1, max=1000000)
    @_doc("""Optimizer steps of stage 3 (the generative transformer on the latents).""")
    def P05_SetDiTSteps(self, n):
        self.SetDiTSteps(n)

    @smproperty.intvector(name="Threads", default_values=1)
    @smdomain.intrange(min=0, max=256)
    @_doc("""torch CPU threads of the training process (0 = torch's default, all cores).""")
    def P06_SetThreads(self, n):
        """torch CPU threads of the training process (0 = torch's default)."""
        self.SetThreads(n)

    @smproperty.xml(_EXTRA_XML)
    def P07_SetExtraArguments(self, args):
        self.SetExtraArguments(args)

    @smproperty.xml(_BUTTONS_XML["Start"])
    def P10_Start(self):
        self.Start()
        _show_information(self)

    @smproperty.xml(_BUTTONS_XML["Refresh"])
    def P11_Refresh(self):
        self.Refresh()
        _show_information(self)

    @smproperty.xml(_BUTTONS_XML["Stop"])
    def P12_Stop(self):
        self.Stop()
        _show_information(self)

    @smproperty.xml(_INFO_XML.format(name="Status", command="P20_GetStatus", doc="The training run's state and progress "
                                 "(stage, step, loss). Refresh reads it (shown at once in Output Messages; "
                                 "here when the pipeline next updates)."))
    def P20_GetStatus(self):
        return self.GetStatus()

    @smproperty.xml(_INFO_XML.format(name="ModelPath", command="P21_GetModelPath", doc="The finished model file, once "
                                 "training is done: give it (or the RunDirectory) to EchoRollout's Checkpoint."))
    def P21_GetModelPath(self):
        return self.GetModelPath()
