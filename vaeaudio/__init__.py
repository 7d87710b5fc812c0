"""vaeaudio: train variational autoencoders on spoken audio and hear what they learned.

A small library with a thin Typer CLI on top (`vaeaudio.cli`), one sub-package
per pipeline stage (`docs/architecture.md` has the code map and the import rule):
`corpus` (recordings -> spectrogram sets), `training` and `models`, `judging`,
`listening` (synth and the report), over `formats` (the files between stages),
`sound` (the signal chain), `settings` and `util`. Importing the package is
cheap: TensorFlow is imported only by the stages that train or run models.
"""

__version__ = "0.1.0"


def load(path=None):
    """A trained model to make sound with: `vaeaudio.load("runs/latest/export")` (an export, no TensorFlow) or a
    run directory (default runs/latest). See `vaeaudio.listening.api.Model`: `sample_rate`, `latent_dim`,
    `classes`, `synth(...)`, `encode(...)`, `decode(...)`, `spectrogram(...)`."""
    from vaeaudio.listening.api import load as load_model

    return load_model(path)
