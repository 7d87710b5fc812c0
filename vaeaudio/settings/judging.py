"""Settings of the judging stage: `evaluate` and the digit classifier's `train` and `predict`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from vaeaudio.settings.base import ITERS_HELP, PHASE_HELP, PHASES, PRIOR_HELP, Flag, Phase, Prior, Settings, Sharpen


class ClassifierSettings(Settings):
    """`vaeaudio classifier train`: a small CNN digit classifier on a spectrogram set (the judge of generated audio)."""

    data: Path = Field(Path("spectrograms"), description="Spectrogram set written by `vaeaudio preprocess`.")
    out: Path | None = Field(None, description="Folder for classifier.keras and config.json "
                                               "(default: runs/classifier-<YYYYmmdd-HHMMSS>).")
    epochs: int = Field(40, ge=1, le=10_000, description="Most training epochs (training stops earlier when "
                                                         "validation accuracy stalls).")
    patience: int = Field(10, ge=1, le=1000, description="Epochs without a better validation accuracy before stopping "
                                                         "(the best weights are kept).")
    noise_floor: float = Field(0.3, ge=0, le=1, description="Highest random noise floor mixed into training "
                               "spectrograms, as a share of the [0, 1] range (0.3 = up to 24 dB above the -80 dB "
                               "floor); it keeps the judge from being thrown by the faint noise Griffin-Lim leaves in "
                               "silent bands. 0 = off.")
    batch_size: int = Field(64, ge=1, le=65536, description="Clips per training step.")
    epoch_clips: int = Field(2048, ge=0, le=10_000_000, description="Clips per epoch: an epoch of a larger train "
                             "split is this many of its clips, the next one going on where it stopped (so every clip "
                             "is seen in turn), and is checked on as many val clips spread evenly; a set of "
                             "AudioMNIST's size then trains in a minute or two, not twenty. 0 = whole splits.")
    lr: float = Field(1e-3, gt=0, le=1, description="Adam learning rate.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of initialisation and shuffling.")


class PredictSettings(Settings):
    """`vaeaudio classifier predict`: the spoken digit of WAV files."""

    model: Path | None = Field(None, description="Classifier folder (default: the newest runs/classifier-*).")
    wavs: Annotated[list[Path], Flag("WAV", argument=True)] = Field(min_length=1,
                                                                    description="WAV files to classify.")


class EvaluateSettings(Settings):
    """`vaeaudio evaluate`: losses, latent-space scores, plots and listening material for runs."""

    runs: Annotated[list[Path], Flag("RUN", argument=True, also="--run")] = Field(
        default_factory=list, description="Run directories (default: runs/latest).")
    data: Path | None = Field(None, description="Spectrogram set to evaluate on (default: the one each run was "
                                                "trained on).")
    k: int = Field(5, ge=1, le=100, description="Neighbours of the k-NN digit accuracy in latent space.")
    listen: int = Field(4, ge=0, le=100, description="Test clips written as WAV: original, through the representation "
                                                     "alone, through the model.")
    batch_size: int = Field(256, ge=1, le=65536, description="Clips per forward pass.")
    stoi_clips: int = Field(200, ge=0, le=100_000, description="Test clips (spread evenly, joined per speaker) whose "
                            "reconstructions, and whose path through the representation alone, are scored by STOI "
                            "against the recordings (0 = skip).")
    phase: Phase = Field(PHASES[0], description=PHASE_HELP + " For the listening material and generated clips.")
    griffin_lim_iters: int | None = Field(None, ge=1, le=10_000, description=ITERS_HELP)
    seed: int = Field(0, ge=0, le=2**31 - 1,
                      description="Seed of the latent samples drawn for the losses and of Griffin-Lim's phase.")
    classifier: Path | None = Field(None, description="Digit classifier folder judging generated audio (default: one "
                                    "trained on the run's spectrogram set, cached in its classifier/ folder).")
    sharpen: Sharpen = Field("auto", description="Sharpening of generated spectrograms, as `synth --sharpen`.")
    samples_per_digit: int = Field(50, ge=0, le=10_000, description="Generated clips per digit for the generation "
                                                                    "metrics (0 = skip them).")
    prior: Prior = Field("auto", description=PRIOR_HELP)
    judge: bool = Field(True, description="Judge with the digit classifier too (--classifier, else one trained on "
                        "the run's set and cached there): evaluate's generation figures, and the label of every clip "
                        "in the report (with the recogniser's).")
    recogniser: bool = Field(True, description="Ask an independent speech recogniser (pocketsphinx, en-us, never "
                             "trained on the corpus) which digit it hears in the generated clips, the real test "
                             "recordings, the model's reconstructions of them and the test clips through the "
                             "representation alone (little per clip, plus Griffin-Lim for the test clips; see "
                             "docs/performance.md), on every usable core. What it hears in the set's own clips is "
                             "kept per set in vaeaudio's cache folder and reused by later runs on the set.")
    recogniser_train_clips: int = Field(2000, ge=0, le=10_000_000, description="Recordings of the train split the "
                                        "recogniser hears, the reference of generated clips: a random sample (by "
                                        "--seed) of a larger split, its size and standard error reported with it. "
                                        "0 = all of them.")
    recogniser_test_clips: int = Field(1000, ge=0, le=10_000_000, description="Test clips the recogniser hears "
                                       "as recorded, through the representation alone and through the model: the "
                                       "same random sample (by --seed) of a larger split for the three, its size "
                                       "and standard errors reported with them. 0 = all of them.")
