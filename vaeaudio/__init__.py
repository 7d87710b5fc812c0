"""vaeaudio: train variational autoencoders on spoken audio and hear what they learned.

The package is a small library (one module per pipeline stage) with a thin
Typer CLI on top (`vaeaudio.cli`). Importing the package is cheap: TensorFlow
is imported only by the stages that train or run models.

Code map (details, file formats and data flow in `docs/architecture.md`):
verbs `download`, `preprocess`, `train`, `evaluate`, `synth`, `classifier`,
`demo` (one module each); formats `shards` and `data` (spectrogram sets),
`runs` and `checkpoint` (run directories); helpers `audio` (the transform and
its inverse), `archive`, `splits`, `distribute`, `models/`, `metrics`,
`generation`, `progress`; foundations `settings` and `errors`.
"""

__version__ = "0.1.0"
