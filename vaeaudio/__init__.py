"""vaeaudio: train variational autoencoders on spoken audio and hear what they learned.

The package is a small library (one module per pipeline stage) with a thin
Typer CLI on top (`vaeaudio.cli`). Importing the package is cheap: TensorFlow
is imported only by the stages that train or run models.

Code map (details, file formats and data flow in `docs/architecture.md`):
verbs `download`, `preprocess`, `train`, `evaluate`, `synth`, `classifier`,
`report`, `demo` (one module each); formats `shards` and `data` (spectrogram
sets), `runs`, `checkpoint` and `latents` (run directories); helpers `audio`
(the transform and its inverse), `sound` (spectrograms to sound), `archive`, `corpus`, `splits`, `batches`,
`distribute`, `kernels` (the fastest matmul kernel per shape), `models/`, `metrics`, `generation`, `recognise`, `preview`,
`specplot`, `report_html`, `resources`, `progress`; foundations `settings`,
`errors`, `files` and `locks`.
"""

__version__ = "0.1.0"
