"""vaeaudio export: every model kind to ONNX, synth and the API from an export as from the run, no TensorFlow on
that path, and damaged exports refused in one line with nothing written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import slow_fixture

import vaeaudio
from vaeaudio.cli import main
from vaeaudio.formats import exports

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def spec_other_audio(tmp_path_factory, fsdd_small) -> Path:
    """A spectrogram set of `fsdd_small` made with other audio settings: 8 kHz, 0.2 s clips, n_fft 32, hop 32
    (17 x 51 spectrograms)."""
    from vaeaudio.corpus.preprocess import preprocess
    from vaeaudio.settings import PreprocessSettings

    out = tmp_path_factory.mktemp("spec_other") / "spectrograms"
    preprocess(PreprocessSettings(src=fsdd_small, out=out, length_percentiles=(0, 100), workers=1, sample_rate=8000,
                                  clip_samples=1600, n_fft=32, hop_length=32))
    return out


def _train(root: Path, data: Path, name: str, **settings) -> Path:
    from vaeaudio.settings import TrainSettings
    from vaeaudio.training.train import train

    run = root / name
    train(TrainSettings(data=data, run_dir=run, epochs=1, batch_size=32, seed=2, **settings))
    return run


@slow_fixture(scope="module")
def runs(tmp_path_factory, tiny_run, spec_small, spec_other_audio) -> dict[str, Path]:
    """A finished tiny run of each model kind: the MLP (default audio), a conditional MLP with a latent mixture,
    the strided CNN, a conditional strided CNN and the reference CNN (the last two with other audio settings); the
    unconditional ones without a mixture (drawing from N(0, I))."""
    root = tmp_path_factory.mktemp("export_runs")
    return {
        "mlp": tiny_run,
        "mlp-cond-mixture": _train(root, spec_small, "mlp-cond", kind="mlp", hidden=(32, 16), conditional=True,
                                   latent_dim=2, latent_mixture=2),
        "cnn-strided": _train(root, spec_small, "strided", kind="cnn", filters=(4, 8), latent_dim=3, latent_mixture=0),
        "cnn-strided-cond": _train(root, spec_other_audio, "strided-cond", kind="cnn", filters=(4, 8, 8),
                                   conditional=True, regularize=True),
        "cnn-reference": _train(root, spec_other_audio, "reference", kind="cnn", arch="reference", latent_mixture=0),
    }


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory) -> dict[str, Path]:
    """Each of `runs` exported with the CLI to its own folder."""
    root = tmp_path_factory.mktemp("exports")
    for kind, run in runs.items():
        assert main(["export", str(run), "--out", str(root / kind), "--quiet"]) == 0
    return {kind: root / kind for kind in runs}


def _wavs(folder: Path) -> dict[str, np.ndarray]:
    return {f.name: sf.read(f, dtype="float32")[0] for f in sorted(folder.glob("*.wav"))}


def _same_sound(a: dict[str, np.ndarray], b: dict[str, np.ndarray], args: list[str]) -> None:
    """The same WAVs: to 1e-4 with `--phase zero` or `griffin-lim` (where a wrong setting or weight on either path
    shows); with the default PGHI phase, which now and then amplifies two runtimes' float32 rounding differences
    (1e-7) through its heap order and magnitude thresholds (a clip at 25-30 dB where the others agree to 80 dB),
    every clip at >= 20 dB of signal to difference (another phase method of the same spectrogram gives -6 to 6 dB)."""
    assert a.keys() == b.keys() and a, args
    if "zero" in args or "griffin-lim" in args:
        assert max(np.abs(a[k] - b[k]).max() for k in a) <= 1e-4, args
    else:
        snr = [10 * np.log10(np.sum(a[k].astype(np.float64) ** 2) / max(1e-30, np.sum((a[k] - b[k]) ** 2.0)))
               for k in a]
        assert min(snr) >= 20, (args, snr)


@pytest.mark.parametrize("kind", ["mlp", "mlp-cond-mixture", "cnn-strided", "cnn-strided-cond", "cnn-reference"])
def test_synth_from_the_export_is_the_runs(runs, exported, kind, tmp_path):
    folder, run = exported[kind], runs[kind]
    # the reference CNN's graphs (56 MB of weights each on these 17 x 51 spectrograms) keep them beside them
    data = ["decoder.onnx.data", "encoder.onnx.data"] if kind == "cnn-reference" else []
    assert sorted(p.name for p in folder.iterdir()) == sorted(["decoder.onnx", "encoder.onnx", "export.json", *data])
    info = exports.read(folder)
    config = json.loads((run / "config.json").read_text())
    assert (info.format, info.latent_dim, info.conditional) == (exports.FORMAT, config["settings"]["latent_dim"],
                                                                 config["settings"]["conditional"])
    assert info.classes == [str(d) for d in range(10)] and info.opset == 17
    assert info.audio["sample_rate"] == config["data"]["audio"]["sample_rate"]
    assert (info.mixture is not None) == bool(config["settings"]["latent_mixture"])  # every run: 5 by default
    assert bool(config["settings"]["latent_mixture"]) == (kind in ("mlp-cond-mixture", "cnn-strided-cond"))
    assert info.validation["clips"] == 20 and max(info.validation["max_abs_diff"].values()) <= 1e-5
    # the reference's zero phase is a smooth function of the spectrogram: the same WAVs to 1e-4 for every kind. PGHI
    # (its heap order, its magnitude thresholds) and Griffin-Lim can amplify the float32 rounding differences of two
    # runtimes (1e-7) on the near-flat spectrograms of these barely trained CNNs past any bound, and on the MLPs now
    # and then (`_same_sound`).
    phases = [["--phase", "zero"]] + ([[]] if kind.startswith("mlp") else [])
    for phase in phases:
        for source, out in ((run, tmp_path / "run"), (folder, tmp_path / "export")):
            shutil.rmtree(out, ignore_errors=True)
            assert main(["synth", "--run", str(source), "--random", "4", "--seed", "5", *phase, str(out), "-q"]) == 0
        a, b = _wavs(tmp_path / "run"), _wavs(tmp_path / "export")
        assert len(a) == 4
        _same_sound(a, b, phase)
        assert (tmp_path / "run" / "z.csv").read_text() == (tmp_path / "export" / "z.csv").read_text()
    keras_model, onnx_model = vaeaudio.load(run), vaeaudio.load(folder)
    z = np.random.default_rng(0).standard_normal((6, info.latent_dim)).astype(np.float32)
    digit = [3] * 6 if info.conditional else None
    assert np.abs(keras_model.decode(z, digit) - onnx_model.decode(z, digit)).max() <= 1e-5


def test_every_synth_option_works_on_an_export(exported, runs, tmp_path):
    folder = exported["mlp-cond-mixture"]
    for args in (["--digit", "7", "--random", "2"], ["--grid", "2", "--digit", "1"], ["--prior", "normal",
                 "--random", "2"], ["--phase", "griffin-lim", "--griffin-lim-iters", "3", "--random", "2"],
                 ["--sharpen", "2", "--random", "2"], ["--phase", "zero", "--random", "2"]):
        out = {}
        for source in (runs["mlp-cond-mixture"], folder):
            out[source] = tmp_path / f"{source.name}-{'_'.join(args)}"
            assert main(["synth", "--run", str(source), *args, str(out[source]), "--quiet"]) == 0
        a, b = (_wavs(p) for p in out.values())
        _same_sound(a, b, args)
    assert main(["synth", "--run", str(folder), "--z", "0.5", "-1.2", str(tmp_path / "one.wav"), "--quiet"]) == 0
    assert sf.info(tmp_path / "one.wav").frames == 17640


def test_api_is_synths_path_and_encodes_as_the_run(exported, runs, tmp_path):
    folder, run = exported["mlp-cond-mixture"], runs["mlp-cond-mixture"]
    m = vaeaudio.load(folder)
    assert (m.sample_rate, m.latent_dim, m.clip_samples, m.classes) == (22050, 2, 17640, [str(d) for d in range(10)])
    waves = m.synth(n=4, seed=5)
    assert waves.shape == (4, 17640) and waves.dtype == np.float32
    assert main(["synth", "--run", str(folder), "--random", "4", "--seed", "5", str(tmp_path / "cli"), "-q"]) == 0
    files = sorted((tmp_path / "cli").glob("*.wav"))
    assert max(np.abs(sf.read(f, dtype="float32")[0] - w).max() for f, w in zip(files, waves)) <= 1 / 32767
    clips = [ROOT / "vaeaudio/sample/3_george_0.wav", ROOT / "vaeaudio/sample/8_theo_2.wav"]
    z = m.encode(clips, digit=[3, 8])
    assert z.shape == (2, 2) and np.abs(z - vaeaudio.load(run).encode(clips, digit=[3, 8])).max() <= 1e-4
    assert m.spectrogram(waves).shape == (4, 257, 69) and m.decode(z, digit=3).shape == (2, 257, 69)
    assert np.array_equal(m.synth(z=z[0], digit=3), m.synth(z=z[:1], digit=[3]))
    from vaeaudio.util.errors import UsageError

    with pytest.raises(UsageError, match=r"z: give finite points of shape \(n, 2\)"):
        m.synth(z=np.zeros((2, 3)))
    with pytest.raises(UsageError, match="labels go from 0 to 9"):
        m.synth(n=2, digit=10)
    with pytest.raises(UsageError, match="is not conditional"):
        vaeaudio.load(exported["mlp"]).synth(n=1, digit=2)


def test_export_path_imports_no_tensorflow(exported, tmp_path):
    """`import vaeaudio`, the CLI's synth and the API on an export, in a fresh process: no TensorFlow, no Keras."""
    code = f"""
import sys
import vaeaudio
assert not [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")], "import vaeaudio"
from vaeaudio.cli import main
assert main(["synth", "--run", {str(exported["cnn-strided"])!r}, "--random", "3", {str(tmp_path / "o")!r}, "-q"]) == 0
m = vaeaudio.load({str(exported["cnn-reference"])!r})
m.encode(m.synth(n=2))
print(sorted({{m.split(".")[0] for m in sys.modules}} & {{"tensorflow", "keras", "onnx", "h5py"}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert len(list((tmp_path / "o").glob("*.wav"))) == 3


def _damage(folder: Path, how: str) -> None:
    if how == "tampered":
        data = bytearray((folder / "decoder.onnx").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "decoder.onnx").write_bytes(bytes(data))
    elif how == "truncated":
        data = (folder / "encoder.onnx").read_bytes()
        (folder / "encoder.onnx").write_bytes(data[: len(data) // 2])
    elif how == "missing":
        (folder / "decoder.onnx").unlink()
    else:
        info = json.loads((folder / "export.json").read_text())
        if how == "edited":
            info["audio"]["db_min"] = -60.0
        elif how == "newer":
            info["format"] = "vaeaudio-export/2"
        (folder / "export.json").write_text(json.dumps(info) if how != "garbled" else "{not json")


@pytest.mark.parametrize("how,message", [
    ("tampered", r"decoder\.onnx is damaged: its sha256 differs from the one in export\.json"),
    ("truncated", r"encoder\.onnx is damaged: \d[\d,]* bytes where \d[\d,]* were written"),
    ("missing", r"decoder\.onnx is missing: the export is incomplete"),
    ("edited", r"export\.json was edited: its content differs from the sha256 written with it"),
    ("newer", r"export\.json is format vaeaudio-export/2, written by a newer vaeaudio; this one reads "
              r"vaeaudio-export/1 \(upgrade vaeaudio\)"),
    ("garbled", r"export\.json is unreadable"),
])
def test_damaged_export_is_one_line_exit_1_nothing_written(exported, tmp_path, capsys, how, message):
    folder = tmp_path / "export"
    shutil.copytree(exported["mlp"], folder)
    _damage(folder, how)
    capsys.readouterr()
    assert main(["synth", "--run", str(folder), "--random", "2", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and __import__("re").search(message, err), err
    assert not (tmp_path / "out").exists()
    with pytest.raises(vaeaudio.util.errors.ModelError, match=message.split(r" \(")[0]):
        m = vaeaudio.load(folder)  # each graph's sha256 is checked when it is first run
        m.decode(np.zeros((1, 2)))
        m.encode(m.synth(n=1))


def test_export_refuses_an_unfinished_run_and_a_foreign_folder(runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs["mlp"], run, ignore=shutil.ignore_patterns("export", "model.keras*"))
    assert main(["export", str(run), "--quiet"]) == 1
    assert "model.keras is missing: the run has not finished" in capsys.readouterr().err
    assert not (run / "export").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["export", str(runs["mlp"]), "--out", str(tmp_path / "busy"), "--quiet"]) == 2
    assert "--out " + str(tmp_path / "busy") + " exists and is not a vaeaudio export" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]


def test_large_graphs_keep_their_weights_in_external_data(runs, exported, tmp_path, monkeypatch):
    from vaeaudio.exporting import export
    from vaeaudio.settings import ExportSettings

    monkeypatch.setattr(export, "EXTERNAL_OVER", 1000)
    result = export.export(ExportSettings(run=runs["cnn-strided"], out=tmp_path / "ext"))
    assert sorted(p.name for p in result.folder.iterdir()) == [
        "decoder.onnx", "decoder.onnx.data", "encoder.onnx", "encoder.onnx.data", "export.json"]
    assert (result.folder / "decoder.onnx").stat().st_size < 10_000
    assert (result.folder / "decoder.onnx.data").stat().st_mode == (result.folder / "decoder.onnx").stat().st_mode
    assert set(exports.read(result.folder).files) == {"decoder.onnx", "decoder.onnx.data", "encoder.onnx",
                                                      "encoder.onnx.data"}
    z = np.random.default_rng(1).standard_normal((3, 3))
    a, b = vaeaudio.load(result.folder).decode(z), vaeaudio.load(exported["cnn-strided"]).decode(z)
    assert np.array_equal(a, b)
    # exporting again replaces the earlier export, and leaves nothing beside it
    export.export(ExportSettings(run=runs["cnn-strided"], out=tmp_path / "ext"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ext"]


def test_a_layer_without_translation_is_refused_in_one_line():
    import keras

    from vaeaudio.exporting.graphs import graph
    from vaeaudio.util.errors import ModelError

    x = keras.Input((4,), name="z")
    model = keras.Model(x, keras.layers.BatchNormalization(name="norm")(keras.layers.Dense(3, name="d")(x)))
    with pytest.raises(ModelError, match=r"cannot export layer 'norm' \(BatchNormalization\): no ONNX translation"):
        graph(model, "decoder", ["spectrogram"])
    model = keras.Model(x, keras.layers.Dense(3, activation="softplus", name="soft")(x))
    with pytest.raises(ModelError, match=r"cannot export layer 'soft' \(Dense\): activation 'softplus'"):
        graph(model, "decoder", ["spectrogram"])


def test_a_verb_missing_its_module_says_so_in_one_line(tmp_path):
    """In an install without TensorFlow (or h5py), a verb that needs it is one line, exit 1, not a traceback."""
    code = ("import sys; sys.modules['h5py'] = None; from vaeaudio.cli import main; "
            f"sys.exit(main(['preprocess', '--src', {str(ROOT / 'vaeaudio/sample')!r}, '--out', {str(tmp_path)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: this command needs the Python module 'h5py', which is not installed here")


def test_report_from_an_export_holds_what_needs_no_training_data(exported, tmp_path):
    out = tmp_path / "page"
    assert main(["report", str(exported["mlp-cond-mixture"]), "--out", str(out), "--samples", "2",
                 "--no-recogniser", "--quiet"]) == 0
    section = json.loads((out / "report.json").read_text())["runs"][0]
    assert section["evaluate"] == "not made (export of mlp-cond: no training data)"
    assert section["map"] is None and section["judge"] is None
    assert sorted(section["wavs"]) == sorted(f"mlp-cond-mixture/gen/d{d}_s{s}.wav" for d in range(10) for s in (0, 1))
    assert all((out / w).is_file() for w in section["wavs"])
    html = (out / "index.html").read_text()
    assert "Ask for a digit" in html and html.count("<audio") == 30  # 10 asked for at the top, 20 in the detail


@pytest.mark.slow
def test_a_bfloat16_run_exports_in_float32(spec_other_audio, tmp_path, capsys):
    run = _train(tmp_path, spec_other_audio, "bf16", kind="mlp", hidden=(32, 16), precision="mixed_bfloat16")
    capsys.readouterr()
    assert main(["export", str(run)]) == 0
    err = capsys.readouterr().err
    assert "note: run bf16 computes in bfloat16; the export computes in float32" in err
    info = exports.read(run / "export")
    assert info.validation["run_dtype"] == "bfloat16" and max(info.validation["max_abs_diff"].values()) <= 1e-5
