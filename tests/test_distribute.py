"""vaeaudio train --distribute: two workers on 127.0.0.1, TF_CONFIG errors, the per-worker input split."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from vaeaudio.cli import main
from vaeaudio.training.distribute import read_tf_config


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tf_config(ports, index) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


@pytest.mark.slow
def test_two_workers_train_one_run(spec_small, tmp_path):
    run = tmp_path / "runs" / "mlp-2w"
    ports = _free_ports(2)
    cmd = [sys.executable, "-m", "vaeaudio.cli", "train", "mlp", "--distribute", "multi-worker",
           "--data", str(spec_small), "--epochs", "2", "--batch-size", "32", "--hidden", "32,16", "--run-dir", str(run),
           "--connect-timeout", "120", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    for i in range(2):
        (tmp_path / f"tmp{i}").mkdir()
    procs = [subprocess.Popen(cmd, env={**env, "TF_CONFIG": _tf_config(ports, i), "TMPDIR": str(tmp_path / f"tmp{i}")},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    assert sorted(f.name for f in run.iterdir()) == ["checkpoints", "config.json", "history.csv", "latents.npz",
                                                     "model.keras", "model.keras.sha256", "tb"]  # the chief's files
    assert len((run / "history.csv").read_text().strip().splitlines()) == 3
    assert json.loads((run / "config.json").read_text())["settings"]["distribute"] == "multi-worker"
    assert "worker 1 of 2" in outs[1][0] and f"run: {run}" in outs[0][0]
    digests = [re.search(r"weights sha256 ([0-9a-f]{16})", out).group(1) for out, _ in outs]
    assert digests[0] == digests[1]  # both workers end with the same weights
    assert not list((tmp_path / "tmp1").iterdir())  # the other worker removed its scratch folder
    # a run saved by two workers resumes on one machine
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0
    assert len((run / "history.csv").read_text().strip().splitlines()) == 4


@pytest.mark.slow  # a process that imports TensorFlow, then waits out the timeout
def test_a_worker_alone_gives_up_after_the_connect_timeout(spec_small, tmp_path):
    ports = _free_ports(2)
    env = {**os.environ, "TF_CONFIG": _tf_config(ports, 0)}
    proc = subprocess.run([sys.executable, "-m", "vaeaudio.cli", "train", "mlp", "--distribute", "multi-worker",
                           "--data", str(spec_small), "--hidden", "8", "--run-dir", str(tmp_path / "r"),
                           "--connect-timeout", "3"], env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: worker 0 (127.0.0.1:{ports[0]}) could not reach the other worker(s) 127.0.0.1:{ports[1]} within 3 s "
        "(start every worker with its own TF_CONFIG task, check the addresses and firewalls, "
        "or raise --connect-timeout)")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("value, message", [
    (None, "--distribute multi-worker needs the TF_CONFIG environment variable"),
    ("{not json", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "TF_CONFIG has no task for this process"),
    ('{"task": {"type": "worker", "index": 0}}', "TF_CONFIG has no cluster"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
     "TF_CONFIG task index 2 is outside the cluster's 2 worker task(s)"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}',
     "TF_CONFIG task type 'ps' is not in its cluster"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG cluster has"),
])
def test_bad_tf_config_is_one_line_exit_2(spec_small, tmp_path, monkeypatch, capsys, value, message):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    rc = main(["train", "mlp", "--distribute", "multi-worker", "--data", str(spec_small),
               "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"error: {message}"), err
    assert not (tmp_path / "r").exists()


def test_roles_from_tf_config():
    r = read_tf_config('{"cluster": {"chief": ["c:1"], "worker": ["w:1", "w:2"]}, '
                       '"task": {"type": "worker", "index": 1}}')
    assert (r.index, r.chief, r.workers) == (2, False, ["c:1", "w:1", "w:2"])
    assert read_tf_config('{"cluster": {"chief": ["c:1"]}, "task": {"type": "chief", "index": 0}}').chief
    assert read_tf_config('{"cluster": {"worker": ["w:1"]}, "task": {"type": "worker", "index": 0}}').chief


def test_each_worker_gets_its_own_part_of_every_global_batch():
    import tensorflow as tf

    from vaeaudio.training.batches import Batches

    n, batch = 70, 16
    data = Batches(np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32),
                   np.zeros((4, 2, 3), np.float32), batch, seed=5)
    seen = []
    for pid in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pid, num_replicas_in_sync=2)
        parts = [x[:, 0, 0].numpy().astype(int) for x, _ in data.train_batches(3, ctx=ctx)]
        assert len(parts) == 5 and [len(p) for p in parts] == [8, 8, 8, 8, 3]  # 70 = 4 x 16 + 6, split 3 + 3
        seen.append(parts)
    order = np.concatenate([x[:, 0, 0].numpy().astype(int) for x, _ in data.train_batches(3)])
    assert sorted(np.concatenate(seen[0] + seen[1]).tolist()) == list(range(n))  # every clip once per epoch
    rebuilt = np.concatenate([np.concatenate([a, b]) for a, b in zip(*seen)])
    assert rebuilt.tolist() == order.tolist()  # the same global batches as on one machine


def test_one_pipeline_serves_every_epoch_from_the_step_it_resumes_at():
    from vaeaudio.training.batches import Batches

    n, batch = 37, 8  # 5 batches an epoch, the last of 5 clips
    data = Batches(np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32),
                   np.zeros((3, 2, 3), np.float32), batch, seed=9, train_digits=np.arange(n) % 10)
    got = [(x[:, 0, 0].numpy().astype(int), d.numpy()) for x, d in data.train_batches(2, skip=3, epochs=3)]
    want = np.concatenate([data.order(2)[3 * batch:], data.order(3), data.order(4)])
    assert [len(x) for x, _ in got] == [8, 5] + [8, 8, 8, 8, 5] * 2  # epoch 2 from batch 3, then 3 and 4 whole
    assert np.concatenate([x for x, _ in got]).tolist() == want.tolist()
    assert all((d == x % 10).all() for x, d in got)  # each clip keeps its digit
    assert sorted(data.order(3).tolist()) == list(range(n)) and data.order(3).tolist() != data.order(4).tolist()
    val = [x[:, 0, 0].numpy().tolist() for x, _ in data.val_batches()]
    assert val == [[0.0, 0.0, 0.0]]
