"""vaeaudio: train variational autoencoders on spoken audio and hear what they learned.

The package is a small library (one module per pipeline stage) with a thin
Typer CLI on top (`vaeaudio.cli`). Importing the package is cheap: TensorFlow
is imported only by the stages that train or run models.
"""

__version__ = "0.1.0"
