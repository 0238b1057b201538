"""`tf.distribute` strategies by name (`--strategy`).

Multi-machine set-ups are TF's own: the cluster comes from the `TF_CONFIG`
environment variable, as for any TensorFlow program.
"""

import json
import os
import tempfile

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "parameter_server", "tpu")


def make_strategy(name="default"):
    """Builds the `tf.distribute.Strategy` called `name`.

    Args:
      name: one of `STRATEGIES`. `default` is the current (no-op) strategy,
        `mirrored` mirrors over the local devices, `multi_worker` and
        `parameter_server` read the cluster from `TF_CONFIG`, `tpu` needs a
        TPU (raises `ValueError` when there is none).

    Returns:
      The strategy.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        _require_tf_config(name)
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "parameter_server":
        _require_tf_config(name)
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        return tf.distribute.experimental.ParameterServerStrategy(resolver)
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as error:
            raise ValueError(f"--strategy tpu expected a TPU, got none ({error}).") from error
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy; expected one of {list(STRATEGIES)}, got {name!r}.")


def _require_tf_config(name):
    if not os.environ.get("TF_CONFIG"):
        raise ValueError(
            f"--strategy {name} expected a cluster in the TF_CONFIG environment variable, got none."
        )


def serve_forever():
    """Runs this process's `tf.distribute.Server` (a `worker` or `ps` task) until killed.

    Under ParameterServerStrategy only the chief runs the training program;
    workers and parameter servers serve it.
    """
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    server = tf.distribute.Server(
        resolver.cluster_spec(),
        job_name=resolver.task_type,
        task_index=resolver.task_id,
        protocol=resolver.rpc_layer or "grpc",
        start=True,
    )
    server.join()


def task(strategy=None):
    """`(task_type, task_id)` of this process (`(None, None)` when not in a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is not None and resolver.task_type is not None:
        return resolver.task_type, resolver.task_id
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task_ = config.get("task") or {}
    return task_.get("type"), task_.get("index")


def is_chief(strategy=None):
    """Whether this process writes the run's files (checkpoints, config, logs).

    True outside a cluster, for the `chief` task, and for worker 0 of a
    cluster without a `chief` (the MultiWorkerMirroredStrategy convention).
    """
    task_type, task_id = task(strategy)
    if task_type is None or task_type == "chief":
        return True
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def write_dir(directory, strategy=None):
    """`directory` on the chief; a fresh temporary directory on other workers.

    Under MultiWorkerMirroredStrategy every worker must save (saving runs
    collective ops), but only the chief's files are kept.
    """
    if is_chief(strategy):
        return directory
    task_type, task_id = task(strategy)
    return tempfile.mkdtemp(prefix=f"tfgen-{task_type}{task_id}-")
