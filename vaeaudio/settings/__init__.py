"""Typed settings, one pydantic model per verb: the single source of every flag's default, unit, bounds and help.

Each field documents its unit and bounds; `vaeaudio.cli` makes its flags from
these fields (flag `--foo-bar` is field `foo_bar`; a `Flag` marker names a value
or makes a field positional) and validates a whole model before any work starts,
so a bad value is refused naming its flag.
Defaults follow the reference system (`docs/reference.md`). One module per stage;
the names are re-exported here.
"""

from vaeaudio.settings.audio import CLIP_SAMPLES, GRIFFIN_LIM_ITERS, HOP_LENGTH, N_FFT, SAMPLE_RATE, TOP_DB
from vaeaudio.settings.base import PRIOR_HELP, Flag, Prior, Settings, Sharpen
from vaeaudio.settings.corpus import DownloadSettings, PreprocessSettings
from vaeaudio.settings.demo import DemoSettings
from vaeaudio.settings.exporting import ExportSettings
from vaeaudio.settings.judging import ClassifierSettings, EvaluateSettings, PredictSettings
from vaeaudio.settings.listening import ReportSettings, SynthSettings
from vaeaudio.settings.training import KERNEL_PATHS, MLP_HIDDEN, RECIPES, RESUME_FLAGS, STRIDED_FILTERS, TrainSettings

__all__ = [
    "CLIP_SAMPLES", "GRIFFIN_LIM_ITERS", "HOP_LENGTH", "KERNEL_PATHS", "MLP_HIDDEN", "N_FFT", "PRIOR_HELP", "RECIPES",
    "RESUME_FLAGS", "SAMPLE_RATE", "STRIDED_FILTERS", "TOP_DB", "ClassifierSettings", "DemoSettings",
    "DownloadSettings", "EvaluateSettings", "ExportSettings", "Flag", "PredictSettings", "PreprocessSettings", "Prior",
    "ReportSettings", "Settings", "Sharpen", "SynthSettings", "TrainSettings",
]
