"""Settings of the corpus stage: `download` and `preprocess`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from vaeaudio.settings.audio import CLIP_SAMPLES, HOP_LENGTH, N_FFT, SAMPLE_RATE, TOP_DB
from vaeaudio.settings.base import Flag, Settings
from vaeaudio.util import resources

#: `preprocess --layout` choices ('auto' and the layouts of `vaeaudio.corpus.layouts`).
LAYOUT_CHOICES = ("auto", "audiomnist", "fsdd", "speech-commands", "folders", "csv")


class DownloadSettings(Settings):
    """`vaeaudio download`: fetch, verify and safely extract AudioMNIST."""

    dest: Path = Field(Path("AudioMNIST"), description="Folder the corpus is extracted into (data/NN/*.wav and "
                       "data/audioMNIST_meta.txt).")
    url: Annotated[str, Flag("URL")] = Field(
        "https://github.com/soerenab/AudioMNIST/archive/refs/heads/master.zip",
        description="http(s) URL or local path of a .zip or .tar.gz archive of the AudioMNIST repository "
                    "(use a mirror here).")
    sha256: Annotated[str | None, Flag("HEX")] = Field(
        None, pattern=r"^[0-9a-fA-F]{64}$",
        description="Expected SHA-256 of the archive (64 hex digits); a mismatch is refused (default: not checked, "
                    "only printed).")
    keep_archive: bool = Field(False, description="Keep the downloaded archive next to --dest after extraction.")
    timeout: Annotated[float, Flag("SECONDS")] = Field(
        60.0, gt=0, le=3600, description="Network timeout per connection attempt, in seconds.")
    max_extract_bytes: Annotated[int, Flag("BYTES")] = Field(
        20_000_000_000, ge=1, le=10**15,
        description="Refuse archives whose entries declare more than this many uncompressed bytes in total "
                    "(zip-bomb guard), in bytes; AudioMNIST (9.5 h of 48 kHz 16-bit audio) is about 3.3e9.")


class PreprocessSettings(Settings):
    """`vaeaudio preprocess`: recordings -> normalised STFT spectrogram shards + manifest."""

    src: Path = Field(Path("AudioMNIST"),
                      description="Folder searched (recursively) for recordings, laid out as --layout says.")
    layout: Literal[LAYOUT_CHOICES] = Field(
        "auto", description="How the folder names its recordings' classes: 'audiomnist' (data/NN/{digit}_NN_{take}.wav)"
        ", 'fsdd' ({digit}_{speaker}_{take}.wav), 'speech-commands' (WORD/HASH_nohash_N.wav, split by its list files "
        "or its hashing rule), 'folders' (CLASS/any/depth/file.wav, split by file), 'csv' (--labels FILE.csv); 'auto' "
        "recognises them and says from what.")
    labels: Annotated[Path | None, Flag("CSV")] = Field(
        None, description="CSV naming each recording and its class (ESC-50's meta/esc50.csv and UrbanSound8K's CSV "
                          "as they are); implies --layout csv. File names are looked up under --src, by path or by "
                          "name alone (default: none; the layout names the classes).")
    label_column: Annotated[str | None, Flag("NAME")] = Field(
        None, description="With --labels: the column holding the class (default: the first of category, class, "
                          "label).")
    fold: Annotated[int | None, Flag("K")] = Field(
        None, description="With --labels: the recordings of fold K (the CSV's `fold` column) are the test split; "
                          "validation is drawn by file from the rest (default: split as --split-by says).")
    classes: Annotated[list[str] | None, Flag("NAME,NAME")] = Field(
        None, description="Keep only these classes, in this order (e.g. --classes zero,one,two,three,four,five,six,"
                          "seven,eight,nine for SC09); default: every class found, sorted by name. Not for the digit "
                          "layouts.")
    long: Literal["crop", "skip"] = Field(
        "crop", description="Recordings longer than --clip-samples (after resampling): 'crop' cuts them to their "
                            "middle (as every clip is fixed to that length), 'skip' drops them (listed in the "
                            "manifest); either way the manifest counts them.")
    out: Path = Field(Path("spectrograms"), description="Output folder for manifest.json and the HDF5 shards.")
    sample_rate: int = Field(SAMPLE_RATE, ge=1000, le=192000,
                             description="Sample rate clips are resampled to, in Hz.")
    clip_samples: int = Field(CLIP_SAMPLES, ge=256, le=10_000_000, description="Clip length after trimming/padding, "
                              "in samples (17,640 = 0.8 s at 22,050 Hz).")
    n_fft: int = Field(N_FFT, ge=16, le=65536,
                       description="STFT frame length in samples (Hann window, centred frames).")
    hop_length: int = Field(HOP_LENGTH, ge=1, le=65536, description="STFT hop in samples.")
    top_db: float = Field(TOP_DB, gt=0, le=200, description="Dynamic range kept below each clip's maximum, in dB.")
    length_percentiles: Annotated[tuple[float, float], Flag("LOW HIGH")] = Field(
        (3.0, 97.0), description="AudioMNIST and FSDD layouts: keep clips whose resampled length lies strictly "
                                 "between these percentiles of the corpus (0 100 keeps all but the extremes' ties); "
                                 "other layouts keep every length (see --long).")
    silence_dbfs: float = Field(-80.0, le=0,
                                description="Clips whose peak is below this level, in dBFS, are dropped as silent.")
    split_by: Literal["take", "speaker"] = Field("take", description="'take': stratified by digit over all clips (as "
                                                 "the reference); 'speaker': whole speakers held out for test (and "
                                                 "validation: see --val-by).")
    test_fraction: float = Field(0.1, gt=0, lt=1, description="Fraction of clips (or speakers) held out for test.")
    val_fraction: float = Field(0.1, gt=0, lt=1,
                                description="Fraction of the remaining clips (or speakers) held out for validation.")
    val_by: Literal["speaker", "take"] = Field(
        "speaker", description="With --split-by speaker: 'speaker' holds out whole voices for validation too; 'take' "
                               "draws validation from the training voices' clips (stratified by class), so that every "
                               "voice but the test ones trains: for corpora of few speakers, where one voice more "
                               "to learn from decides how well an unheard one is rendered.")
    test_speakers: Annotated[list[str] | None, Flag("ID,ID")] = Field(
        None, description="With --split-by speaker: comma-separated speaker ids for the test split "
                          "(default: drawn with --seed).")
    seed: int = Field(42, ge=0, description="Random seed of the split.")
    shard_size: int = Field(2048, ge=1, le=1_000_000, description="Clips per HDF5 shard.")
    workers: int = Field(0, ge=0, le=256, description="Parallel featurisation processes (0 = one per CPU core).")
    overwrite: bool = Field(False, description="Replace a spectrogram set at --out that was made from another --src "
                            "(refused without it: the runs trained on that set could no longer resume or be "
                            "evaluated on it).")

    @field_validator("length_percentiles")
    @classmethod
    def _percentiles(cls, v: tuple[float, float]) -> tuple[float, float]:
        lo, hi = v
        if not (0 <= lo < hi <= 100):
            raise ValueError("need 0 <= LOW < HIGH <= 100")
        return v

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, v):
        if isinstance(v, str):
            v = [s.strip() for s in v.split(",") if s.strip()]
        if v is not None and len(set(v)) < 2:
            raise ValueError("give at least two distinct class names, e.g. --classes yes,no")
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
        if self.val_by != "speaker" and self.split_by != "speaker":
            raise ValueError("--val-by needs --split-by speaker")
        if self.labels is not None and self.layout not in ("auto", "csv"):
            raise ValueError(f"--labels FILE.csv is the csv layout, not --layout {self.layout}")
        if self.layout == "csv" and self.labels is None:
            raise ValueError("--layout csv needs --labels FILE.csv")
        for flag, value in (("--label-column", self.label_column), ("--fold", self.fold)):
            if value is not None and self.labels is None:
                raise ValueError(f"{flag} needs --labels FILE.csv")
        if self.fold is not None and self.split_by == "speaker":
            raise ValueError("--fold sets the test split itself: leave out --split-by speaker")
        return self

    def n_workers(self) -> int:
        """Worker processes to use (resolves 0 to the number of usable CPU cores)."""
        return self.workers or resources.usable_cores()

    def content(self) -> dict:
        """The settings that determine the output bytes (not where, nor how fast; the labels CSV by its content, in
        the source's fingerprint). The layout flags and --val-by appear only when not at their defaults, so a set
        made before they existed stays current."""
        later_flags = {"layout", "label_column", "fold", "classes", "long", "val_by"}
        dump = self.model_dump(mode="json", exclude={"src", "out", "workers", "overwrite", "labels"})
        return {k: v for k, v in dump.items()
                if k not in later_flags or v != type(self).model_fields[k].default}
