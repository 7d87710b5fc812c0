"""Typed settings, one pydantic model per stage: the single source of every default (and of the names stages share).

Each field documents its unit and bounds; `vaeaudio.cli` builds its flags from
these fields (flag `--foo-bar` is field `foo_bar`) and validates a whole model
before any work starts, so a bad value is refused naming its flag.
Defaults follow the reference system (`docs/reference.md`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import UsageError

# The reference pipeline's audio settings (`vaeaudio.audio.Transform` defaults, preprocess's flags).
#: Sample rate every clip is resampled to, in Hz.
SAMPLE_RATE = 22050
#: Clip length after trimming/padding, in samples (0.8 s at 22,050 Hz).
CLIP_SAMPLES = 17640
#: STFT frame length in samples (-> 257 frequency bins).
N_FFT = 512
#: STFT hop in samples (-> 69 centred frames for 17,640 samples).
HOP_LENGTH = 256
#: Dynamic range kept below each clip's maximum, in dB.
TOP_DB = 80.0

# Names every stage shares.
#: The splits of a spectrogram set, in order.
SPLITS = ("train", "val", "test")
#: The per-clip losses a VAE reports (nats per clip): history.csv columns, TensorBoard tags, evaluate's table.
LOSSES = ("reconstruction", "kl", "total")
#: AudioMNIST's speaker metadata file (a JSON object keyed by speaker id), in its `data/` folder.
META_FILE = "audioMNIST_meta.txt"

#: Sharpening power of `--sharpen auto` for runs that predate the recorded training level (config.json without `data.mean`).
SHARPEN = 1.25
#: `--sharpen auto` raises the power that gives generated spectrograms the training clips' mean level by this factor:
#: an independent recogniser hears generated digits best a little sharper than that (README, "Intelligible digits").
AUTO_CONTRAST = 1.5


def _sharpen(value):
    """'auto', or a power from 0.25 to 8 (numbers may come as text from the command line)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        power = float(value)
    except (TypeError, ValueError):
        power = math.nan
    if not 0.25 <= power <= 8:  # also refuses NaN
        raise ValueError("must be 'auto' or a power from 0.25 to 8")
    return power


#: A sharpening power P, or "auto": the P that gives generated spectrograms the training clips' mean level.
Sharpen = Annotated[Literal["auto"] | float, BeforeValidator(_sharpen)]
#: Where random latent points come from: the run's latent mixture if it stored one (auto), it, or N(0, I).
Prior = Literal["auto", "mixture", "normal"]
PRIOR_HELP = ("Where random latent points come from: 'normal' = the prior N(0, T^2 I); 'mixture' = the Gaussian mixture "
              "fitted to the training clips' latents that a run trained with --latent-mixture stores (per digit); "
              "'auto' = the mixture when the run has one, else the prior.")
#: Default Griffin-Lim iterations of synthesis and evaluation (64 lose generated digits' clarity: see the README).
GRIFFIN_LIM_ITERS = 200


class Settings(BaseModel):
    """Base for stage settings: strict fields, helpers for the CLI."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @classmethod
    def default(cls, name: str):
        """The default value of field `name`."""
        return cls.model_fields[name].get_default(call_default_factory=True)

    @classmethod
    def help(cls, name: str) -> str:
        """The field's description, used as its flag's help text."""
        return cls.model_fields[name].description or ""

    @classmethod
    def build(cls, **values):
        """Validate `values` into a model; a bad value raises `UsageError` naming its flag."""
        try:
            return cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
            msg = err["msg"].removeprefix("Value error, ")
            if not loc:  # a check across fields: its message names the flags itself
                raise UsageError(msg) from None
            given = err.get("input")
            shown = "" if isinstance(given, dict) or given is None else f" (got {given!r})"
            raise UsageError(f"--{loc[0].replace('_', '-')}: {msg}{shown}") from None


class PreprocessSettings(Settings):
    """`vaeaudio preprocess`: recordings -> normalised STFT spectrogram shards + manifest."""

    src: Path = Field(Path("AudioMNIST"), description="Folder searched (recursively) for {digit}_{speaker}_{take}.wav recordings.")
    out: Path = Field(Path("spectrograms"), description="Output folder for manifest.json and the HDF5 shards.")
    sample_rate: int = Field(SAMPLE_RATE, ge=1000, le=192000, description="Sample rate clips are resampled to, in Hz.")
    clip_samples: int = Field(CLIP_SAMPLES, ge=256, le=10_000_000, description="Clip length after trimming/padding, in samples (17,640 = 0.8 s at 22,050 Hz).")
    n_fft: int = Field(N_FFT, ge=16, le=65536, description="STFT frame length in samples (Hann window, centred frames).")
    hop_length: int = Field(HOP_LENGTH, ge=1, le=65536, description="STFT hop in samples.")
    top_db: float = Field(TOP_DB, gt=0, le=200, description="Dynamic range kept below each clip's maximum, in dB.")
    length_percentiles: tuple[float, float] = Field((3.0, 97.0), description="Keep clips whose resampled length lies strictly between these percentiles of the corpus (0 100 keeps all but the extremes' ties).")
    silence_dbfs: float = Field(-80.0, le=0, description="Clips whose peak is below this level, in dBFS, are dropped as silent.")
    split_by: Literal["take", "speaker"] = Field("take", description="'take': stratified by digit over all clips (as the reference); 'speaker': whole speakers held out for validation and test.")
    test_fraction: float = Field(0.1, gt=0, lt=1, description="Fraction of clips (or speakers) held out for test.")
    val_fraction: float = Field(0.1, gt=0, lt=1, description="Fraction of the remaining clips (or speakers) held out for validation.")
    test_speakers: list[str] | None = Field(None, description="With --split-by speaker: comma-separated speaker ids for the test split (default: drawn with --seed).")
    seed: int = Field(42, ge=0, description="Random seed of the split.")
    shard_size: int = Field(2048, ge=1, le=1_000_000, description="Clips per HDF5 shard.")
    workers: int = Field(0, ge=0, le=256, description="Parallel featurisation processes (0 = one per CPU core).")

    @field_validator("length_percentiles")
    @classmethod
    def _percentiles(cls, v: tuple[float, float]) -> tuple[float, float]:
        lo, hi = v
        if not (0 <= lo < hi <= 100):
            raise ValueError("need 0 <= LOW < HIGH <= 100")
        return v

    @field_validator("test_speakers", mode="before")
    @classmethod
    def _speakers(cls, v):
        if isinstance(v, str):
            v = [s.strip() for s in v.split(",") if s.strip()]
            if not v:
                raise ValueError("give at least one speaker id, e.g. --test-speakers 01,02")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        if self.hop_length > self.n_fft:
            raise ValueError("--hop-length must not exceed --n-fft")
        if self.test_speakers and self.split_by != "speaker":
            raise ValueError("--test-speakers needs --split-by speaker")
        return self

    def n_workers(self) -> int:
        """Worker processes to use (resolves 0 to the number of usable CPU cores)."""
        if self.workers:
            return self.workers
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # macOS, Windows
            return max(1, os.cpu_count() or 1)

    def content(self) -> dict:
        """The settings that determine the output bytes (not where, nor how fast)."""
        return self.model_dump(mode="json", exclude={"src", "out", "workers"})


class ClassifierSettings(Settings):
    """`vaeaudio classifier train`: a small CNN digit classifier on a spectrogram set (the judge of generated audio)."""

    data: Path = Field(Path("spectrograms"), description="Spectrogram set written by `vaeaudio preprocess`.")
    out: Path | None = Field(None, description="Folder for classifier.keras and config.json (default: runs/classifier-<YYYYmmdd-HHMMSS>).")
    epochs: int = Field(40, ge=1, le=10_000, description="Most training epochs (training stops earlier when validation accuracy stalls).")
    patience: int = Field(10, ge=1, le=1000, description="Epochs without a better validation accuracy before stopping (the best weights are kept).")
    noise_floor: float = Field(0.3, ge=0, le=1, description="Highest random noise floor mixed into training spectrograms, as a share of the [0, 1] range (0.3 = up to 24 dB above the -80 dB floor); it keeps the judge from being thrown by the faint noise Griffin-Lim leaves in silent bands. 0 = off.")
    batch_size: int = Field(64, ge=1, le=65536, description="Clips per training step.")
    lr: float = Field(1e-3, gt=0, le=1, description="Adam learning rate.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of initialisation and shuffling.")


class PredictSettings(Settings):
    """`vaeaudio classifier predict`: the spoken digit of WAV files."""

    model: Path | None = Field(None, description="Classifier folder (default: the newest runs/classifier-*).")
    wavs: list[Path] = Field(min_length=1, description="WAV files to classify.")


class DemoSettings(Settings):
    """`vaeaudio demo`: the whole pipeline offline on the embedded FSDD sample."""

    out: Path = Field(Path("demo"), description="Folder for everything the demo writes (spectrograms, runs, WAVs).")
    epochs: int = Field(60, ge=1, le=10_000, description="Training epochs of the demo's MLP-VAE (latent 2).")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="Seed of the split, training and sampling.")
    judge: bool = Field(True, description="Label the report's clips with what a digit classifier hears (trains one on the sample first: about 20 s).")


class EvaluateSettings(Settings):
    """`vaeaudio evaluate`: losses, latent-space scores, plots and listening material for runs."""

    runs: list[Path] = Field(default_factory=list, description="Run directories (default: runs/latest).")
    data: Path | None = Field(None, description="Spectrogram set to evaluate on (default: the one each run was trained on).")
    k: int = Field(5, ge=1, le=100, description="Neighbours of the k-NN digit accuracy in latent space.")
    listen: int = Field(4, ge=0, le=100, description="Test clips written as WAV: original, through the representation alone, through the model.")
    batch_size: int = Field(256, ge=1, le=65536, description="Clips per forward pass.")
    griffin_lim_iters: int = Field(GRIFFIN_LIM_ITERS, ge=1, le=10_000, description="Griffin-Lim iterations of the listening material and generated clips (200: see synth).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the latent samples drawn for the losses and of Griffin-Lim.")
    classifier: Path | None = Field(None, description="Digit classifier folder judging generated audio (default: one trained on the run's spectrogram set, cached in its classifier/ folder).")
    sharpen: Sharpen = Field("auto", description="Sharpening of generated spectrograms, as `synth --sharpen`.")
    samples_per_digit: int = Field(50, ge=0, le=10_000, description="Generated clips per digit for the generation metrics (0 = skip them).")
    prior: Prior = Field("auto", description=PRIOR_HELP)
    recogniser: bool = Field(True, description="Ask an independent speech recogniser (pocketsphinx, en-us, never trained on the corpus) which digit it hears in the generated clips, the real test recordings, the model's reconstructions of them and the test clips through the representation alone (about 5 ms per clip, plus Griffin-Lim for the test clips).")


class ReportSettings(EvaluateSettings):
    """`vaeaudio report`: one page (index.html with its PNGs and WAVs) to look at and listen to runs.

    Every `evaluate` field is here too: the page reuses RUN/eval/ when it was made with the same values.
    """

    out: Path | None = Field(None, description="Folder of the page: index.html, its assets and one folder per run (default: RUN/report for one run, report/ for several); an earlier report there is replaced.")
    samples: int = Field(3, ge=0, le=20, description="Generated clips on the page per digit (conditional runs), or rows of 10 random draws (others), drawn as --prior says; 0 = none.")
    grid: int = Field(5, ge=0, le=16, description="Decoded points per side of the playable latent map's grid (2-D latents, unconditional runs; 0 = no grid).")
    map_points: int = Field(60, ge=0, le=2000, description="Test clips placed on the playable latent map (each plays its recording).")
    judge: bool = Field(True, description="Label every clip with the digit the classifier hears and its probability (--classifier, else the one evaluate used, else one trained on the run's set and cached there).")


class SynthSettings(Settings):
    """`vaeaudio synth`: decode latent points of a trained run to WAV files."""

    run: Path | None = Field(None, description="Run directory (default: runs/latest).")
    z: list[float] | None = Field(None, description="Decode this latent point: one value per latent dimension (negative values welcome).")
    random: int | None = Field(None, ge=1, le=100_000, description="Decode N draws from the prior N(0, T^2 I).")
    digit: int | None = Field(None, ge=0, le=9, description="Digit 0-9 to make (conditional runs only; default: digits 0-9 in turn).")
    grid: int | None = Field(None, ge=1, le=256, description="Decode an N x N grid over the prior's quantiles (2-D latents only).")
    out: Path = Field(description="Output WAV file (with --z) or folder (with --random / --grid).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of --random draws and of Griffin-Lim's initial phase.")
    temperature: float = Field(1.0, gt=0, le=10, description="Standard deviation of --random draws (1 = the prior); drawing from a latent mixture, the scale of each draw's distance from its component's mean (1 = as fitted).")
    griffin_lim_iters: int = Field(GRIFFIN_LIM_ITERS, ge=1, le=10_000, description="Griffin-Lim iterations of phase estimation (200 makes generated digits clearer than 64: see the README).")
    sharpen: Sharpen = Field("auto", description="Raise the decoded [0, 1] spectrogram to the power P before undoing the dB scaling: > 1 restores the contrast a VAE blurs, 1 = as decoded; 'auto' = 1.5 x the P that gives generated spectrograms the mean level of the training clips, the contrast a speech recogniser hears best (not applied with --phase zero, which reproduces the reference).")
    prior: Prior = Field("auto", description=PRIOR_HELP)
    phase: Literal["griffin-lim", "zero"] = Field("griffin-lim", description="'griffin-lim' (estimated phase), or 'zero': the reference report's zero-phase inverse STFT (buzzy), for comparison.")

    @field_validator("z")
    @classmethod
    def _finite(cls, v):
        if v is not None:
            if not v:
                raise ValueError("give one value per latent dimension before OUT.wav, e.g. --z 0.5 -1.2 out.wav")
            if not all(math.isfinite(x) for x in v):
                raise ValueError("values must be finite numbers (no NaN or Inf)")
        return v

    @model_validator(mode="after")
    def _one_mode(self):
        modes = [name for name, value in (("--z", self.z), ("--random", self.random), ("--grid", self.grid))
                 if value is not None]
        if len(modes) != 1:
            raise ValueError("choose exactly one of --z Z... OUT.wav, --random N OUTDIR, --grid N OUTDIR"
                             + (f" (got {', '.join(modes)})" if modes else ""))
        if self.z is not None and self.out.suffix.lower() != ".wav":
            raise ValueError(f"--z writes one file: the last argument must end in .wav (got {str(self.out)!r})")
        return self


class DownloadSettings(Settings):
    """`vaeaudio download`: fetch, verify and safely extract AudioMNIST."""

    dest: Path = Field(Path("AudioMNIST"), description="Folder the corpus is extracted into (data/NN/*.wav and data/audioMNIST_meta.txt).")
    url: str = Field("https://github.com/soerenab/AudioMNIST/archive/refs/heads/master.zip",
                     description="http(s) URL or local path of a .zip or .tar.gz archive of the AudioMNIST repository (use a mirror here).")
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$", description="Expected SHA-256 of the archive (64 hex digits); a mismatch is refused.")
    keep_archive: bool = Field(False, description="Keep the downloaded archive next to --dest after extraction.")
    timeout: float = Field(60.0, gt=0, le=3600, description="Network timeout per connection attempt, in seconds.")
    max_extract_bytes: int = Field(20_000_000_000, ge=1, le=10**15,
                                   description="Refuse archives whose entries declare more than this many uncompressed bytes in total (zip-bomb guard), in bytes; AudioMNIST (9.5 h of 48 kHz 16-bit audio) is about 3.3e9.")


#: Kernels a matrix product can run on (`vaeaudio.kernels`): TensorFlow's oneDNN, XLA, numpy's OpenBLAS.
KERNEL_PATHS = ("onednn", "xla", "openblas")
#: Environment variable naming vaeaudio's cache folder (default $XDG_CACHE_HOME/vaeaudio or ~/.cache/vaeaudio).
CACHE_ENV = "VAEAUDIO_CACHE"


def cache_dir() -> Path:
    """The folder of what vaeaudio measures once per machine (e.g. the kernel choice): $VAEAUDIO_CACHE, else
    $XDG_CACHE_HOME/vaeaudio, else ~/.cache/vaeaudio."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vaeaudio"


#: Layer widths used when `--hidden` / `--filters` are not given.
MLP_HIDDEN = (1024, 512, 256)
STRIDED_FILTERS = (16, 32, 64, 128)


#: Training recipes: settings a `--recipe` fills in for the flags not given. 'intelligible' makes conditional
#: digits that an independent recogniser hears as often as the real recordings (README, "Intelligible digits").
RECIPES = {"intelligible": {"conditional": True, "latent_dim": 16, "latent_mixture": 5, "epochs": 100}}


class TrainSettings(Settings):
    """`vaeaudio train`: fit a VAE on a spectrogram set and write a run directory."""

    kind: Literal["mlp", "cnn"] = Field(description="Model family: 'mlp' (reference MLP-VAE) or 'cnn' (see --arch).")
    data: Path = Field(Path("spectrograms"), description="Spectrogram set written by `vaeaudio preprocess`.")
    run_dir: Path | None = Field(None, description="Run directory to create (default: runs/<kind>-<YYYYmmdd-HHMMSS>); its parent gets a `latest` link.")
    arch: Literal["strided", "reference"] | None = Field(None, description="CNN layout: 'strided' (fast, default) or 'reference' (the report's 582 M-parameter CNN). cnn only.")
    regularize: bool = Field(False, description="CNN regularisation as in the reference: L2 0.001 on conv kernels, dropout 0.2 after the flatten and after Dense 256. cnn only.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout rate after each hidden Dense layer of the MLP, 0 <= P < 1 (0 = none). mlp only.")
    hidden: tuple[int, ...] | None = Field(None, description=f"MLP encoder widths, comma-separated, units per Dense layer (default {','.join(map(str, MLP_HIDDEN))}; the decoder mirrors them). mlp only.")
    filters: tuple[int, ...] | None = Field(None, description=f"Strided-CNN encoder channels, comma-separated, one stride-2 conv each (default {','.join(map(str, STRIDED_FILTERS))}; the decoder mirrors them). cnn --arch strided only.")
    conditional: bool = Field(False, description="Condition encoder and decoder on the digit (one-hot), so that `synth --digit D` makes the digit asked for.")
    latent_dim: int = Field(2, ge=1, le=1024, description="Latent dimensions (the reference uses 2).")
    latent_mixture: int = Field(0, ge=0, le=64, description="When training ends, fit a Gaussian mixture of this many components to the training clips' latent means (one per digit for a conditional run), stored in the run as latents.npz; synth and evaluate then draw from it instead of N(0, I). 0 = none: sample the prior, as the reference.")
    recipe: Literal["intelligible"] | None = Field(None, description="Fill in the settings of a named recipe for the flags not given: 'intelligible' = " + " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in RECIPES["intelligible"].items()) + " (digits a speech recogniser hears about as often as the recordings; see the README).")
    beta: float = Field(1.0, ge=0, le=1000, description="Weight of the KL term: loss = reconstruction + beta x KL, per clip.")
    lr: float = Field(1e-3, gt=0, le=1, description="Adam learning rate.")
    batch_size: int = Field(128, ge=1, le=65536, description="Clips per training step.")
    epochs: int = Field(50, ge=1, le=100_000, description="Epochs to train in total (with --resume: the total to reach).")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="Seed of weight initialisation, sampling, dropout and the per-epoch shuffle.")
    precision: Literal["float32", "mixed_bfloat16"] = Field("float32", description="'float32', or 'mixed_bfloat16' (bfloat16 compute, float32 weights and losses).")
    xla: bool = Field(True, description="Fuse the optimizer update into one XLA kernel.")
    kernels: Literal[("auto", *KERNEL_PATHS)] = Field("auto", description="Kernel of the large Dense products (forward and both gradients): 'auto' times oneDNN, XLA and OpenBLAS once per shape on this machine (cached in ~/.cache/vaeaudio) and keeps the fastest of each; or one path for all.")
    distribute: Literal["none", "mirrored", "multi-worker"] = Field("none", description="'none' (one device), 'mirrored' (this machine's GPUs) or 'multi-worker' (one process per machine, configured by TF_CONFIG); --batch-size is the global batch.")
    connect_timeout: float = Field(300.0, gt=0, le=86400, description="With --distribute multi-worker: seconds to wait for every worker to be up (and for any collective step) before giving up.")
    checkpoint_every: float = Field(30.0, ge=0, le=86400, description="Least seconds between two end-of-epoch checkpoints (the first and last epoch and Ctrl-C always write one): writing the reference MLP's 450 MB state takes about 1 s, a third of an epoch on a small set. 0 = after every epoch, as always with --distribute (workers save together).")
    preview_every: int | None = Field(None, ge=0, le=100_000, description="Epochs between TensorBoard previews in RUN/tb/ (audio and spectrograms of a few val clips' reconstructions and prior draws, and the latent map); default: 4 per run, and always after the last epoch; 0 = none. Not with --distribute.")
    deterministic: bool = Field(False, description="Enable TensorFlow op determinism, so that a rerun (or a resumed run) gives identical losses; may be slower.")

    @field_validator("hidden", "filters", mode="before")
    @classmethod
    def _widths(cls, v):
        if isinstance(v, str):
            try:
                v = tuple(int(s) for s in v.split(",") if s.strip())
            except ValueError:
                raise ValueError("give positive integers separated by commas, e.g. 1024,512,256") from None
        if v is not None and (not v or any(int(w) < 1 or int(w) > 65536 for w in v)):
            raise ValueError("give 1 or more widths between 1 and 65536, e.g. 1024,512,256")
        return v

    @model_validator(mode="before")
    @classmethod
    def _recipe(cls, values):
        """A recipe's settings for every field not given (given ones win)."""
        if isinstance(values, dict) and values.get("recipe") in RECIPES:
            values = {**RECIPES[values["recipe"]], **values}
        return values

    # Flags that only some layouts take: refused for the others, defaults filled in for their own.
    @field_validator("arch")
    @classmethod
    def _arch(cls, v, info):
        if info.data.get("kind") == "mlp":
            if v is not None:
                raise ValueError("applies to `train cnn` only")
            return None
        return v or "strided"

    @field_validator("regularize")
    @classmethod
    def _regularize(cls, v, info):
        if v and info.data.get("kind") == "mlp":
            raise ValueError("applies to `train cnn` only; use --dropout for mlp")
        return v

    @field_validator("dropout")
    @classmethod
    def _dropout(cls, v, info):
        if v and info.data.get("kind") == "cnn":
            raise ValueError("applies to `train mlp` only; use --regularize for cnn")
        return v

    @field_validator("hidden")
    @classmethod
    def _hidden(cls, v, info):
        if info.data.get("kind") != "mlp":
            if v is not None:
                raise ValueError("applies to `train mlp` only")
            return None
        return v or MLP_HIDDEN

    @field_validator("filters")
    @classmethod
    def _filters(cls, v, info):
        if info.data.get("arch") != "strided":
            if v is not None:
                raise ValueError("applies to `train cnn --arch strided` only")
            return None
        return v or STRIDED_FILTERS

    def describe(self) -> str:
        """The model in words for tables: 'mlp (dropout 0.3, conditional)', 'cnn-strided (latent 8, beta 0.5)'."""
        extras = [f"dropout {self.dropout:g}"] if self.dropout else []
        extras += ["L2 + dropout"] if self.regularize else []
        extras += ["conditional"] if self.conditional else []
        extras += [f"latent {self.latent_dim}"] if self.latent_dim != 2 else []
        extras += [f"beta {self.beta:g}"] if self.beta != 1.0 else []
        name = self.kind if self.kind == "mlp" else f"cnn-{self.arch}"
        return name + (f" ({', '.join(extras)})" if extras else "")

    def run_name(self) -> str:
        """Short model name used in run-directory names: 'mlp', 'cnn-strided' or 'cnn-reference', '-cond' if conditional."""
        return (self.kind if self.kind == "mlp" else f"cnn-{self.arch}") + ("-cond" if self.conditional else "")
