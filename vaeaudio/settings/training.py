"""Settings of `train`: the model, the optimisation, the kernels and the recipes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from vaeaudio.settings.base import Flag, Settings

#: Kernels a matrix product can run on (`vaeaudio.models.kernels`): TensorFlow's oneDNN, XLA, numpy's OpenBLAS.
KERNEL_PATHS = ("onednn", "xla", "openblas")

#: Layer widths used when `--hidden` / `--filters` are not given.
MLP_HIDDEN = (1024, 512, 256)
STRIDED_FILTERS = (256,)

#: Training recipes: settings a `--recipe` fills in for the flags not given. 'intelligible' makes conditional
#: digits that an independent recogniser hears as often as the real recordings (docs/intelligibility.md).
RECIPES = {"intelligible": {"conditional": True, "latent_dim": 16, "latent_mixture": 5, "epochs": 100},
           "reference": {"latent_dim": 2, "label_weight": 0.0, "latent_mixture": 0}}
#: `--label-weight` of an unconditional run when not given: a digit head on the latent mean, its cross-entropy this
#: many times over, makes the latent carry the word. Without it an unconditional model's draws were mostly heard as
#: one digit (entropy 0.17 of log 10 at latent 2); with it, at latent 16, more evenly (docs/intelligibility.md).
LABEL_WEIGHT = 3000.0
#: What `--conditional` fills in for the flags not given: the 'intelligible' recipe's settings. A conditional run on
#: the plain defaults (latent 2, no mixture, 50 epochs) was heard 0.82x as often as the recordings; with these, as
#: often (docs/intelligibility.md).
CONDITIONAL_DEFAULTS = {k: v for k, v in RECIPES["intelligible"].items() if k != "conditional"}
#: Components of the per-class latent mixture every run fits by default (`--latent-mixture`): an unconditional run's
#: draws from N(0, I) were mostly heard as one digit, from the mixture they cover the classes (docs/intelligibility.md).
LATENT_MIXTURE = RECIPES["intelligible"]["latent_mixture"]


def _as_flags(values: dict) -> str:
    """Settings as the flags that give them: `--conditional --latent-dim 16`."""
    return " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in values.items())


#: The settings `train --resume` takes: how a run goes on, not what it is.
RESUME_FLAGS = ("epochs", "distribute", "connect_timeout")


class TrainSettings(Settings):
    """`vaeaudio train`: fit a VAE on a spectrogram set and write a run directory."""

    kind: Annotated[Literal["mlp", "cnn"], Flag("KIND", argument=True)] = Field(
        description="Model family: 'mlp' (reference MLP-VAE) or 'cnn' (see --arch). Not with --resume.")
    data: Path = Field(Path("spectrograms"), description="Spectrogram set written by `vaeaudio preprocess`.")
    run_dir: Path | None = Field(None, description="Run directory to create (default: runs/<kind>-<YYYYmmdd-HHMMSS>); "
                                                   "its parent gets a `latest` link.")
    arch: Literal["strided", "reference"] | None = Field(None, description="CNN layout: 'strided' (fast, default) or "
                                                         "'reference' (the report's 582 M-parameter CNN). cnn only.")
    regularize: bool = Field(False, description="CNN regularisation as in the reference: L2 0.001 on conv kernels, "
                                                "dropout 0.2 after the flatten and after Dense 256. cnn only.")
    dropout: Annotated[float, Flag("P")] = Field(0.0, ge=0, lt=1, description="Dropout rate after each hidden Dense "
                                                 "layer of the MLP, 0 <= P < 1 (0 = none). mlp only.")
    hidden: Annotated[tuple[int, ...] | None, Flag("W,W,...")] = Field(
        None, description=f"MLP encoder widths, comma-separated, units per Dense layer (default "
                          f"{','.join(map(str, MLP_HIDDEN))}; the decoder mirrors them). mlp only.")
    filters: Annotated[tuple[int, ...] | None, Flag("C,C,...")] = Field(
        None, description="Strided-CNN encoder channels, comma-separated, one stride-2 conv along time each, the "
                          "first reading the frequency bins as channels (default "
                          f"{','.join(map(str, STRIDED_FILTERS))}; the decoder mirrors them). cnn --arch strided only.")
    conditional: bool = Field(False, description="Condition encoder and decoder on the class (one-hot over the set's "
                                                 "classes), so that `synth --label WORD` (`--digit D`) makes the "
                                                 "class asked for; fills in the intelligible recipe's "
                                                 "--latent-dim 16 --latent-mixture 5 --epochs 100 for the flags not "
                                                 "given.")
    init_from: Annotated[Path | None, Flag("RUN")] = Field(
        None, description="Fine-tune: start from the weights of this finished run (same audio settings, same model "
                          "flags; the set may differ: other voices, other classes). Classes of the same name keep "
                          "their learned rows; with no name in common and the same count, rows go by position; other "
                          "classes start fresh. Recorded in config.json as `parent` (default: none; fresh weights).")
    latent_dim: int = Field(16, ge=1, le=1024, description="Latent dimensions (the reference uses 2: "
                                                           "--recipe reference).")
    latent_mixture: Annotated[int, Flag("K")] = Field(
        LATENT_MIXTURE, ge=0, le=64, description="When training ends, fit a Gaussian mixture of this many components "
        "to the training clips' latent means, one per class (an unconditional run's draws take the classes in turn), "
        "stored in the run as latents.npz; synth and evaluate then draw from it instead of N(0, I). Left at its "
        "default, a train split that lacks a class gets none (said once). 0 = none: sample the prior, as the "
        "reference.")
    label_weight: Annotated[float | None, Flag("W")] = Field(
        None, ge=0, le=1e6, description="Unconditional runs: train a digit (class) head on the latent mean with the "
        "set's labels, its cross-entropy x W added to the loss optimised (not to the losses reported), so that the "
        f"latent carries the word; the model stays unconditional (default {LABEL_WEIGHT:g}; 0 = none, as the "
        "reference; not with --conditional).")
    recipe: Literal[tuple(RECIPES)] | None = Field(
        None, description="Fill in the settings of a named recipe for the flags not given (default: none): "
        f"'intelligible' = {_as_flags(RECIPES['intelligible'])} (digits a speech recogniser hears about as often as "
        f"the recordings; see docs/intelligibility.md); 'reference' = {_as_flags(RECIPES['reference'])} (the "
        "reference report's model: its loss table, draws from N(0, I)).")
    beta: float = Field(1.0, ge=0, le=1000, description="Weight of the KL term: loss = reconstruction + beta x KL, "
                                                        "per clip.")
    lr: float = Field(1e-3, gt=0, le=1, description="Adam learning rate.")
    batch_size: int = Field(128, ge=1, le=65536, description="Clips per training step.")
    epochs: int = Field(50, ge=1, le=100_000, description="Epochs to train in total (with --conditional: 100; with "
                                                          "--resume: the total to reach; default there: the run's "
                                                          "own).")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="Seed of weight initialisation, sampling, dropout and the "
                                                          "per-epoch shuffle.")
    precision: Literal["float32", "mixed_bfloat16"] = Field("float32", description="'float32', or 'mixed_bfloat16' "
                                                            "(bfloat16 compute, float32 weights and losses).")
    xla: bool = Field(True, description="Fuse the optimizer update into one XLA kernel.")
    kernels: Literal[("auto", *KERNEL_PATHS)] = Field(
        "auto", description="Kernel of the large Dense products (forward and both gradients): 'auto' times oneDNN, "
        "XLA and OpenBLAS once per shape on this machine (cached in ~/.cache/vaeaudio) and keeps the fastest of each; "
        "or one path for all.")
    distribute: Literal["none", "mirrored", "multi-worker"] = Field(
        "none", description="'none' (one device), 'mirrored' (this machine's GPUs) or 'multi-worker' (one process per "
        "machine, configured by TF_CONFIG); --batch-size is the global batch.")
    connect_timeout: Annotated[float, Flag("SECONDS")] = Field(
        300.0, gt=0, le=86400, description="With --distribute multi-worker: seconds to wait for every worker to be up "
        "(and for any collective step) before giving up.")
    checkpoint_every: Annotated[float, Flag("SECONDS")] = Field(
        30.0, ge=0, le=86400, description="Least seconds between two end-of-epoch checkpoints (the first and last "
        "epoch and Ctrl-C always write one): writing a large model's state takes a good share of an epoch on a small "
        "set (see docs/performance.md). 0 = after every epoch, as always with --distribute (workers save together).")
    preview_every: Annotated[int | None, Flag("EPOCHS")] = Field(
        None, ge=0, le=100_000, description="Epochs between TensorBoard previews in RUN/tb/ (audio and spectrograms "
        "of a few val clips' reconstructions and prior draws, and the latent map); default: 4 per run, and always "
        "after the last epoch; 0 = none. Not with --distribute.")
    in_memory: Annotated[bool | None, Flag(off="stream")] = Field(
        None, description="Hold the train split in memory, or stream its batches from the set's shards through a "
        "shuffle buffer (shards interleaved, the order still set by --seed and the epoch); default: in memory when its "
        "spectrograms fit --memory-budget. A run keeps its choice when resumed.")
    memory_budget: Annotated[float | None, Flag("MB")] = Field(
        None, gt=0, le=1e9, description="Megabytes the train split may take in memory (default: half of the memory "
        "available when train starts): a larger split is streamed, its shuffle buffer and batches in flight within it. "
        "With --distribute multi-worker give every worker the same one (without it the split is held in memory).")
    deterministic: bool = Field(False, description="Enable TensorFlow op determinism, so that a rerun (or a resumed "
                                                   "run) gives identical losses; may be slower.")

    @field_validator("label_weight")
    @classmethod
    def _label_weight(cls, v, info):
        if info.data.get("conditional"):
            if v:
                raise ValueError("a conditional model is given the class: --label-weight applies to unconditional "
                                 "runs")
            return 0.0
        return LABEL_WEIGHT if v is None else v

    @field_validator("kernels")
    @classmethod
    def _kernels(cls, v, info):
        if v == "openblas" and info.data.get("precision") == "mixed_bfloat16":
            raise ValueError("'openblas' computes in float32 only: with --precision mixed_bfloat16 choose auto, onednn "
                             "or xla")
        return v

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
        """A recipe's settings for every field not given (given ones win); `CONDITIONAL_DEFAULTS` likewise for a
        conditional run."""
        if isinstance(values, dict) and values.get("recipe") in RECIPES:
            values = {**RECIPES[values["recipe"]], **values}
        if isinstance(values, dict) and values.get("conditional") is True:
            values = {**CONDITIONAL_DEFAULTS, **values}
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
        extras += [f"labels x {self.label_weight:g}"] if self.label_weight else []
        extras += [f"beta {self.beta:g}"] if self.beta != 1.0 else []
        name = self.kind if self.kind == "mlp" else f"cnn-{self.arch}"
        return name + (f" ({', '.join(extras)})" if extras else "")

    def run_name(self) -> str:
        """Short model name in run-directory names: 'mlp', 'cnn-strided' or 'cnn-reference', '-cond' if conditional."""
        return (self.kind if self.kind == "mlp" else f"cnn-{self.arch}") + ("-cond" if self.conditional else "")
