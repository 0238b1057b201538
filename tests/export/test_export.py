"""`python -m export` / `export.export_model`: versions, atomicity, fresh-process load.

A tiny `pixelcnn` is trained for a few steps on `digits` once per module; its
exports must load in a Python process that never imports tfgen and give the
same outputs as the in-process model, with and without `--xla`.
"""

import errno
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.lib.io import file_io

import export
import training
from serving.errors import ServingError
from serving.model_manager import ModelConfig, ModelManager
from tests import damage, fresh_process
from tests.conformance import golden_checkpoints, goldens
from tfgen import registry

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = goldens.hparams_flag("pixelcnn")

# Fixed signature inputs (numpy), for the in-process model and the fresh process.
LABELS = np.array([0, 3, 7], np.int32)
IMAGES = (np.arange(3 * 8 * 8).reshape(3, 8, 8, 1) % 3 == 0).astype(np.int32)
INPUTS = {
    "serving_default": {"image": IMAGES, "label": LABELS},
    "log_prob": {"image": IMAGES, "label": LABELS},
    "sample": {"label": LABELS, "seed": np.int64(42), "temperature": np.float32(1.0)},
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("train") / "run")
    training.train(
        "pixelcnn",
        "digits",
        steps=4,
        batch_size=8,
        model_dir=path,
        hparams=TINY,
        checkpoint_every=2,
        eval_batches=0,
        verbose=0,
    )
    return path


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    return env


def _export_cli(*flags, cwd):
    return subprocess.run(
        [sys.executable, "-m", "export", "--model", "pixelcnn", *flags],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )


def _outputs(model, jit_compile=False):
    signatures = model.signatures(jit_compile=jit_compile)
    return {
        key: {
            k: v.numpy()
            for k, v in signatures[key](**{n: tf.constant(x) for n, x in kwargs.items()}).items()
        }
        for key, kwargs in INPUTS.items()
    }


@pytest.mark.slow
def test_cli_writes_versions_and_never_overwrites(model_dir, tmp_path):
    base = str(tmp_path / "models" / "pixelcnn")
    for version in (1, 2):
        result = _export_cli("--checkpoint", model_dir, "--export_dir", base, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        path = os.path.join(base, str(version))
        assert result.stdout.strip().endswith(path)
        assert os.path.isfile(os.path.join(path, "saved_model.pb"))
        assert os.path.isdir(os.path.join(path, "variables"))
    result = _export_cli(
        "--checkpoint", model_dir, "--export_dir", base, "--version", "2", cwd=tmp_path
    )
    assert result.returncode != 0
    assert "ValueError" in result.stderr and "existing" in result.stderr
    assert sorted(os.listdir(base)) == ["1", "2"]


def test_export_model_versions_and_collision(model_dir, tmp_path):
    model = export.load_trained(model_dir, "pixelcnn")
    base = str(tmp_path / "pixelcnn")
    assert export.next_version(base) == 1
    assert export.export_model(model, base, version=5) == os.path.join(base, "5")
    assert export.export_model(model, base) == os.path.join(base, "6")
    with pytest.raises(ValueError, match="existing"):
        export.export_model(model, base, version=5)
    with pytest.raises(ValueError, match="positive integer"):
        export.export_model(model, base, version=0)
    assert sorted(os.listdir(base)) == ["5", "6"]


def test_failed_export_leaves_nothing(model_dir, tmp_path, monkeypatch):
    model = export.load_trained(model_dir)
    base = str(tmp_path / "pixelcnn")

    def broken_save(obj, export_dir, signatures=None, **kwargs):
        os.makedirs(os.path.join(export_dir, "variables"))
        with open(os.path.join(export_dir, "saved_model.pb"), "wb") as f:
            f.write(b"half-written")
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        export.export_model(model, base)
    assert os.listdir(base) == []
    monkeypatch.undo()
    assert export.export_model(model, base) == os.path.join(base, "1")
    assert os.listdir(base) == ["1"]


def test_export_loads_in_fresh_process_with_same_outputs(model_dir, tmp_path):
    model = export.load_trained(model_dir)
    expected = _outputs(model)
    assert set(expected["sample"]["image"].ravel()) <= {0, 1}
    path = export.export_model(model, str(tmp_path / "pixelcnn"))
    fresh_process.assert_same_outputs(
        expected, fresh_process.signature_outputs(path, INPUTS, tmp_path, fresh=True)
    )


def test_xla_export_gives_same_outputs(model_dir, tmp_path):
    model = export.load_trained(model_dir)
    expected = _outputs(model)
    result = _export_cli(
        "--checkpoint", model_dir, "--export_dir", str(tmp_path / "pixelcnn"), "--xla", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    actual = fresh_process.signature_outputs(str(tmp_path / "pixelcnn" / "1"), INPUTS, tmp_path)
    fresh_process.assert_same_outputs(expected, actual)


def test_restored_weights_are_the_checkpoint(model_dir):
    model = export.load_trained(model_dir)
    reader = tf.train.load_checkpoint(
        tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    )
    saved = sorted(
        reader.get_tensor(key).tobytes()
        for key in reader.get_variable_to_shape_map()
        if key.startswith("model/") and "OPTIMIZER_SLOT" not in key
    )
    assert saved == sorted(w.tobytes() for w in model.get_weights())
    # A checkpoint prefix works as well and gives the same weights.
    prefix = os.path.join(model_dir, "checkpoints", "ckpt-2")
    earlier = export.load_trained(prefix, "pixelcnn")
    assert any(not np.array_equal(a, b) for a, b in zip(earlier.get_weights(), model.get_weights()))


def test_saved_model_cli_describes_export(model_dir, tmp_path):
    path = export.export_model(export.load_trained(model_dir), str(tmp_path / "pixelcnn"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tensorflow.python.tools.saved_model_cli",
            "show",
            "--all",
            "--dir",
            path,
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for text in (
        "signature_def['serving_default']",
        "signature_def['log_prob']",
        "signature_def['sample']",
        "inputs['image']",
        "inputs['label']",
        "inputs['seed']",
        "inputs['temperature']",
        "outputs['log_prob']",
        "outputs['bits_per_dim']",
        "outputs['image']",
    ):
        assert text in result.stdout, text


def test_load_trained_errors(model_dir, tmp_path):
    with pytest.raises(ValueError, match="config.json"):
        export.load_trained(str(tmp_path))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(open(os.path.join(model_dir, "config.json")).read())
    with pytest.raises(ValueError, match="Expected a checkpoint"):
        export.load_trained(str(run))
    with pytest.raises(ValueError, match="Expected model"):
        export.load_trained(model_dir, "wavenet")
    with pytest.raises(ValueError, match="no such directory"):
        export.load_trained(str(tmp_path / "nope" / "ckpt-1"))


def _bare_prefix(model_dir, tmp_path):
    """The run's latest checkpoint copied where no config.json is found."""
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    bare = tmp_path / "elsewhere" / "checkpoints"
    bare.mkdir(parents=True)
    for name in os.listdir(os.path.dirname(latest)):
        if name.startswith(os.path.basename(latest) + "."):
            shutil.copy(os.path.join(os.path.dirname(latest), name), bare / name)
    return str(bare / os.path.basename(latest))


def test_restore_is_never_partial(model_dir, tmp_path):
    """A bare checkpoint with the wrong hyper-parameters or model fails loudly, naming it.

    The checkpoint holds only the model, no run config (as older runs wrote), so the
    model is built from the arguments.
    """
    checkpoint = tf.train.Checkpoint(model=export.load_trained(model_dir))
    prefix = checkpoint.write(str(tmp_path / "elsewhere" / "ckpt"))
    tiny = goldens.GOLDENS["pixelcnn"].hparams

    def load(name="pixelcnn", **changes):
        return export.load_trained(prefix, name, hparams={**tiny, **changes}, dataset="digits")

    assert [w.tobytes() for w in load().get_weights()] == [
        w.tobytes() for w in export.load_trained(model_dir).get_weights()
    ]
    with pytest.raises(ValueError, match="are not the model's") as error:
        load(num_layers=tiny["num_layers"] - 1)
    assert prefix in str(error.value) and "'num_layers': 1" in str(error.value)
    with pytest.raises(ValueError, match="differ in shape"):
        load(filters=2 * tiny["filters"])
    with pytest.raises(ValueError, match="to hold the variables of model 'wavenet'"):
        export.load_trained(prefix, "wavenet", hparams=goldens.GOLDENS["wavenet"].hparams)


def test_bare_prefix_builds_the_model_it_was_trained_as(model_dir, tmp_path):
    """A prefix copied away from its run (no config.json) builds the model from its own config."""
    prefix = _bare_prefix(model_dir, tmp_path)
    default_shape = registry.resolve_hparams("pixelcnn")["image_shape"]
    assert tuple(default_shape) != (8, 8, 1)  # What a build from the defaults would give.
    expected = [w.tobytes() for w in export.load_trained(model_dir).get_weights()]
    for model in (export.load_trained(prefix), export.load_trained(prefix, "pixelcnn", TINY)):
        assert tuple(model.get_config()["image_shape"]) == (8, 8, 1)
        assert [w.tobytes() for w in model.get_weights()] == expected
    with pytest.raises(ValueError, match="Expected model 'pixelcnn'.*got 'wavenet'") as error:
        export.load_trained(prefix, "wavenet")
    assert prefix in str(error.value)
    with pytest.raises(ValueError, match="Expected dataset 'digits'.*got 'mnist'"):
        export.load_trained(prefix, "pixelcnn", dataset="mnist")
    for checkpoint in (prefix, model_dir):
        with pytest.raises(ValueError, match="filters: expected 8, got 16") as error:
            export.load_trained(checkpoint, "pixelcnn", "filters=16")
    assert "leave --hparams out" in str(error.value)


def test_golden_checkpoints_without_a_config_still_load():
    golden = goldens.GOLDENS["pixelcnn"]
    prefix, _ = golden_checkpoints.paths("pixelcnn")
    model = export.load_trained(
        prefix, "pixelcnn", golden.hparams, golden.dataset, golden.dataset_options
    )
    reader = tf.train.load_checkpoint(prefix)
    assert sorted(w.tobytes() for w in model.get_weights()) == sorted(
        reader.get_tensor(key).tobytes()
        for key in reader.get_variable_to_shape_map()
        if key.startswith("model/")
    )


@pytest.mark.parametrize("how", damage.KINDS)
def test_damaged_checkpoint_is_named_and_the_previous_one_exported(model_dir, tmp_path, how):
    run = str(tmp_path / "run")
    shutil.copytree(model_dir, run)
    latest = tf.train.latest_checkpoint(os.path.join(run, "checkpoints"))
    data = damage.damage_checkpoint(latest, how)
    with pytest.raises(ValueError, match="Expected a training model_dir or a whole checkpoint"):
        export.load_trained(latest)
    with pytest.raises(ValueError, match=f"{data} is unreadable"):
        export.load_trained(latest)
    previous = os.path.join(run, "checkpoints", "ckpt-2")
    assert latest != previous
    expected = [w.tobytes() for w in export.load_trained(previous).get_weights()]
    assert [w.tobytes() for w in export.load_trained(run).get_weights()] == expected


def _assert_nothing_served(base):
    """The serving model manager finds no version under `base` to load."""
    manager = ModelManager([ModelConfig("pixelcnn", base)], poll_wait_seconds=0)
    manager.start()
    with pytest.raises(ServingError, match="Servable not found"):
        manager.get("pixelcnn")


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
        tf.errors.ResourceExhaustedError(None, None, "No space left on device"),
    ],
    ids=["OSError", "OpError"],
)
def test_full_disk_during_export_leaves_no_version(model_dir, tmp_path, monkeypatch, error):
    """ENOSPC half-way through saved_model.pb: no version a server would load, nothing left."""
    model = export.load_trained(model_dir)
    base = str(tmp_path / "pixelcnn")
    write = file_io.atomic_write_string_to_file

    def full_disk(filename, contents, overwrite=True):
        with open(filename, "wb") as f:  # Half of it reaches the disk, then it is full.
            f.write(contents[: len(contents) // 2])
        assert [name for name in os.listdir(base) if name.isdigit()] == []
        _assert_nothing_served(base)  # Not even while the write is under way.
        raise error

    monkeypatch.setattr(file_io, "atomic_write_string_to_file", full_disk)
    with pytest.raises(OSError, match="Expected to write SavedModel version") as raised:
        export.export_model(model, base)
    assert os.path.join(base, "1") in str(raised.value) and "No space left" in str(raised.value)
    assert os.listdir(base) == []
    _assert_nothing_served(base)
    monkeypatch.setattr(file_io, "atomic_write_string_to_file", write)
    assert export.export_model(model, base) == os.path.join(base, "1")
