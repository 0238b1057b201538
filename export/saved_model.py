"""Checkpoint -> SavedModel version directory, written atomically.

`BASE/NAME/<version>/` (`saved_model.pb` + `variables/`) is the layout TF
Serving polls. A version is first written to a hidden `.tmp-<version>-<pid>`
directory next to it and renamed into place, so it appears complete or not at
all; a failed export (a full disk, say) leaves nothing behind.
"""

import os
import shutil
import tempfile

import tensorflow as tf

from tfgen import hparams as hparams_lib
from tfgen import registry, run_dir
from tfgen.run_dir import RunDir
from tfgen.signatures import SignatureLimits, signature_limits


def next_version(export_dir_base):
    """One more than the largest integer directory in `export_dir_base` (1 if none)."""
    if not os.path.isdir(export_dir_base):
        return 1
    versions = [int(name) for name in os.listdir(export_dir_base) if name.isdigit()]
    return max(versions, default=0) + 1


def _inference_copy(model):
    """A fresh model with `model`'s weights, so no optimizer state is exported."""
    model.build_example()
    copy = type(model).from_config(model.get_config()).build_example()
    copy.set_weights(model.get_weights())
    return copy


def export_model(model, export_dir_base, version=None, jit_compile=False, limits=None):
    """Writes `model` as SavedModel version `export_dir_base/<version>`.

    Args:
      model: a tfgen model (provides `signatures(jit_compile)`).
      export_dir_base: the model's base path, `BASE/NAME`.
      version: positive integer; default: `next_version(export_dir_base)`.
      jit_compile: export the signatures with `jit_compile=True` (`--xla`).
      limits: the `tfgen.signatures.SignatureLimits` the signatures enforce
        (default: `SignatureLimits()`).

    Returns:
      The path of the version directory.

    Raises:
      ValueError: if `version` is not a positive integer or already exists.
      OSError: when writing fails (a full disk, say); the partial copy is removed.
    """
    if version is None:
        version = next_version(export_dir_base)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"Expected a positive integer version, got {version!r}.")
    path = os.path.join(export_dir_base, str(version))
    if os.path.exists(path):
        raise ValueError(
            f"Expected a new version, got existing {path!r}; versions are never overwritten."
        )
    model = _inference_copy(model)
    os.makedirs(export_dir_base, exist_ok=True)
    tmp = os.path.join(export_dir_base, f".tmp-{version}-{os.getpid()}")
    try:
        with signature_limits(limits or SignatureLimits()):
            signatures = model.signatures(jit_compile=jit_compile)
        tf.saved_model.save(model, tmp, signatures=signatures)
        if os.path.exists(path):
            raise ValueError(
                f"Expected a new version, got existing {path!r} (written concurrently)."
            )
        os.rename(tmp, path)
    except (OSError, tf.errors.OpError) as error:
        message = (
            f"Expected to write SavedModel version {path!r}, got an error writing it in "
            f"{tmp!r}, which is removed: {error}"
        )
        if isinstance(error, OSError) and error.errno:
            raise OSError(error.errno, message) from error
        raise OSError(message) from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def load_trained(checkpoint, model_name=None, hparams=None, dataset=None, dataset_options=None):
    """Builds a model and restores its weights from a training run or checkpoint.

    Args:
      checkpoint: a training `model_dir` (its newest whole checkpoint in
        `model_dir/checkpoints` is restored), or a checkpoint prefix such as
        `model_dir/checkpoints/ckpt-100`. The model and its hyper-parameters
        come from the config the checkpoint holds (`tfgen.run_dir.training_checkpoint`),
        else from the run's `config.json`, else from the arguments below.
      model_name: the registered model name; must match the run's.
      hparams: hyper-parameter overrides (dict or `"key=value,..."`); with a
        run's config they may only repeat its values.
      dataset: the dataset the model was trained on; must match the run's.
      dataset_options: used with `dataset` to build the model when the
        checkpoint has no config (a bare prefix of an older run).

    Returns:
      The restored model.

    Raises:
      ValueError: on an unknown model, a model, hyper-parameters or dataset that
        differ from the run's, a missing config.json, a directory without checkpoints,
        a checkpoint whose files are damaged, or a checkpoint that does not hold
        exactly the model's variables (another model, other hyper-parameters):
        restores are never partial.
    """
    if os.path.isdir(checkpoint):
        config, prefix = RunDir(checkpoint).model_checkpoint()
    else:
        prefix = checkpoint
        error = run_dir.checkpoint_error(prefix)
        if error is not None:
            raise ValueError(
                f"Expected a training model_dir or a whole checkpoint prefix, got "
                f"{checkpoint!r}: no such directory, and {error}."
            )
        run = RunDir.of_checkpoint(prefix)
        config = run.read_config() if run.has_config() else None
    config = run_dir.checkpoint_config(prefix) or config
    if config is None:
        if model_name is None:
            raise ValueError(
                f"Expected --model for checkpoint {prefix!r} without a config, got none."
            )
        options = registry.dataset_options(model_name, dataset, dataset_options)
        hparams = registry.resolve_hparams(model_name, hparams, dataset, options)
    else:
        model_name, hparams = _run_model(config, prefix, model_name, hparams, dataset)
    model = registry.get(model_name).model_class(**hparams).build_example()
    _assert_checkpoint_is_the_model(prefix, model, model_name)
    tf.train.Checkpoint(model=model).read(prefix).expect_partial().assert_existing_objects_matched()
    return model


def _run_model(config, prefix, model_name=None, hparams=None, dataset=None):
    """`(model name, hparams)` of the run `config`, refusing arguments that differ.

    Raises:
      ValueError: when `model_name`, `hparams` or `dataset` contradict the run's.
    """
    for what, given in (("model", model_name), ("dataset", dataset)):
        if given is not None and given != config.get(what):
            raise ValueError(
                f"Expected {what} {config.get(what)!r} (the config of checkpoint {prefix!r}), "
                f"got {given!r}."
            )
    given = hparams_lib.to_json(hparams_lib.resolve(config["hparams"], hparams))
    if given != config["hparams"]:
        raise ValueError(
            f"Expected the hyper-parameters checkpoint {prefix!r} was trained with, got "
            f"others ({run_dir.config_differences(config['hparams'], given)}); leave "
            f"--hparams out to use the checkpoint's."
        )
    return config["model"], config["hparams"]


def _model_variables(prefix):
    """{key: shape} of the model variables in checkpoint `prefix` (not optimizer slots)."""
    shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    return {
        key: tuple(shape)
        for key, shape in shapes.items()
        if key.startswith("model/") and ".OPTIMIZER_SLOT" not in key
    }


def _assert_checkpoint_is_the_model(prefix, model, model_name):
    """Raises unless checkpoint `prefix` holds exactly `model`'s variables, shape for shape.

    A restore by object matching is partial without a word when the checkpoint has more
    layers than the model (other hyper-parameters) or comes from another model whose
    layers happen to share names, so the export would serve wrong weights.
    """
    with tempfile.TemporaryDirectory() as tmp:
        expected = _model_variables(tf.train.Checkpoint(model=model).write(f"{tmp}/model"))
    saved = _model_variables(prefix)
    if saved == expected:
        return
    missing = sorted(expected.keys() - saved.keys())
    unused = sorted(saved.keys() - expected.keys())
    reshaped = sorted(k for k in expected.keys() & saved.keys() if expected[k] != saved[k])
    details = [
        f"{len(keys)} {what} (first: {keys[0]})"
        for keys, what in (
            (missing, "of the model's variables are not in it"),
            (unused, "of its variables are not the model's"),
            (reshaped, "differ in shape"),
        )
        if keys
    ]
    raise ValueError(
        f"Expected checkpoint {prefix!r} to hold the variables of model {model_name!r} with "
        f"hyper-parameters {model.get_config()}; got {len(saved)} model variables where "
        f"{len(expected)} were expected: {'; '.join(details)}. Export from the run's "
        f"model_dir (its config.json), or pass the model and --hparams it was trained with."
    )
