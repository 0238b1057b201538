"""Model configuration, version discovery, loading and unloading.

For every configured model, :class:`ModelManager` polls ``BASE/`` every
``file_system_poll_wait_seconds``, looking for integer version directories
(``BASE/7/saved_model.pb``; anything else, such as ``.tmp-3``, ``007`` or a
number past int64, is ignored, and so is a symlink leading out of ``BASE``).
New versions are loaded in the background polling thread while the current
version keeps serving; once a newer version has loaded it replaces the old
one, which is then unloaded (TF Serving's default "latest" version policy).
A version that fails to load is logged, marked END with its error in
GetModelStatus, and never served; it is retried only when its files change.
"""

import dataclasses
import os
import re
import threading

import grpc
from absl import logging
from google.protobuf import text_format
from tensorflow.python.framework import ops as tf_ops  # TF's global gradient registry
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.batching import BatchScheduler
from serving.errors import ServingError, invalid_argument, not_found
from serving.servable import SAVED_MODEL_FILENAME, ServableVersion

# A version directory is a canonical int64: "7", not "007", "7.0" or 99999999999999999999.
_VERSION_DIR = re.compile(r"^(0|[1-9][0-9]{0,18})$")
_MAX_VERSION = 2**63 - 1
# Model names are names, never paths.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_State = get_model_status_pb2.ModelVersionStatus.State

# tensorflow.error.Code numbers used in StatusProto.
_TF_OK = 0
_TF_UNKNOWN = 2


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model: its name, its base path and optional version labels."""

    name: str
    base_path: str
    version_labels: tuple = ()  # ((label, version), ...)

    def label_to_version(self, label):
        """Returns the version a label points to, or None."""
        return dict(self.version_labels).get(label)


def parse_model_config_text(text):
    """Parses a text-format ``tensorflow.serving.ModelServerConfig`` into ModelConfigs.

    Raises:
      ValueError: unparsable text, a custom_model_config, a non-"tensorflow"
        platform, a missing name or base_path, or duplicate names.
    """
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ValueError(f"cannot parse model config file: {e}") from None
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError("model config file must contain a model_config_list")
    models = []
    for entry in config.model_config_list.config:
        if not entry.name or not entry.base_path:
            raise ValueError(f"every model config needs a name and a base_path, got: {entry}")
        if entry.model_platform not in ("", "tensorflow"):
            raise ValueError(
                f'model {entry.name}: model_platform "{entry.model_platform}" is not supported; '
                'use "tensorflow"'
            )
        policy = entry.model_version_policy.WhichOneof("policy_choice")
        if policy and not (
            policy == "latest" and entry.model_version_policy.latest.num_versions <= 1
        ):
            logging.warning(
                "model %s: model_version_policy %s is not supported; serving the latest version",
                entry.name,
                policy,
            )
        labels = tuple(sorted((k, int(v)) for k, v in entry.version_labels.items()))
        models.append(
            ModelConfig(_check_name(entry.name), os.path.abspath(entry.base_path), labels)
        )
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate model names in model config file: {names}")
    if not models:
        raise ValueError("model config file lists no models")
    return models


def load_model_configs(model_name="", model_base_path="", model_config_file=""):
    """Builds the list of ModelConfigs from tensorflow_model_server's flags.

    Either ``model_config_file`` or ``model_base_path`` (with ``model_name``,
    default "default" as in TF Serving) must be given, not both.
    """
    if model_config_file and model_base_path:
        raise ValueError("give either --model_config_file or --model_base_path, not both")
    if model_config_file:
        with open(model_config_file, encoding="utf-8") as f:
            return parse_model_config_text(f.read())
    if not model_base_path:
        raise ValueError("give --model_base_path (with --model_name) or --model_config_file")
    return [ModelConfig(_check_name(model_name or "default"), os.path.abspath(model_base_path))]


def _check_name(name):
    if not _MODEL_NAME.match(name):
        raise ValueError(
            f"Expected a model name of letters, digits, '_', '.' and '-' (not a path), got {name!r}"
        )
    return name


def _fingerprint(path):
    """Cheap identity of a version directory's contents (mtimes and sizes), or None."""
    try:
        parts = [os.stat(path).st_mtime_ns]
        for sub in (SAVED_MODEL_FILENAME, "variables"):
            p = os.path.join(path, sub)
            if os.path.lexists(p):
                st = os.stat(p)
                parts.append((sub, st.st_mtime_ns, st.st_size))
        variables = os.path.join(path, "variables")
        if os.path.isdir(variables):
            with os.scandir(variables) as it:
                parts.extend(sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in it))
        return tuple(parts)
    except OSError:
        return None


def _load_servable(name, version, path, batch_scheduler):
    """Loads a ServableVersion; returns it and the gradient registry keys its load added.

    `tf.saved_model.load` registers a SavedModel's custom gradients in TensorFlow's
    process-wide gradient registry and never removes them; each entry holds the loaded
    functions, so every version ever loaded would stay in memory (the soak bench measured
    ~18 MB per version of its test-size models). Serving never differentiates, so the
    entries are removed again when the version is unloaded (`_unregister`), or at once when
    the load fails.
    """
    registry = tf_ops._gradient_registry._registry  # pylint: disable=protected-access
    before = set(registry)
    try:
        servable = ServableVersion(name, version, path, batch_scheduler)
        return servable, [k for k in registry if k not in before]
    except Exception:
        _unregister([k for k in registry if k not in before])
        raise


def _unregister(gradient_keys):
    """Removes the gradient registry entries a version's load added."""
    registry = tf_ops._gradient_registry._registry  # pylint: disable=protected-access
    for key in gradient_keys:
        registry.pop(key, None)


def _is_inside(path, base):
    real_base = os.path.realpath(base)
    return os.path.realpath(path).startswith(real_base + os.sep)


class _ModelState:
    """Mutable per-model state, guarded by the manager's lock."""

    def __init__(self, config):
        self.config = config
        self.served = None  # ServableVersion
        self.gradients = []  # the gradient registry keys the served version's load added
        self.failed = {}  # version -> fingerprint at the failed attempt
        self.status = {}  # version -> (state, tf error code, message)
        self.warned = set()


class ModelManager:
    """Discovers, loads and serves the newest good version of each model.

    Args:
      configs: a list of :class:`ModelConfig`.
      poll_wait_seconds: seconds between file-system polls; <= 0 polls once,
        at :meth:`start`.
      batching_options: a :class:`serving.batching.BatchingOptions` to batch
        concurrent Predict requests (``--enable_batching``), or None.
    """

    def __init__(self, configs, poll_wait_seconds=1.0, batching_options=None):
        self._models = {c.name: _ModelState(c) for c in configs}
        self._poll_wait = float(poll_wait_seconds)
        self._batching_options = batching_options
        self._batch_scheduler = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    @property
    def model_names(self):
        """Names of the configured models."""
        return sorted(self._models)

    def start(self):
        """Loads what is on disk now (blocking), then polls in a background thread."""
        if self._batching_options is not None:
            self._batch_scheduler = BatchScheduler(self._batching_options)
        self.poll_once()
        if self._poll_wait > 0:
            self._thread = threading.Thread(
                target=self._poll_loop, name="model-poller", daemon=True
            )
            self._thread.start()

    def stop(self, timeout=None):
        """Stops polling (a load in progress is allowed to finish up to ``timeout``).

        With batching, then runs the queued requests and stops the batch threads.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._batch_scheduler is not None:
            self._batch_scheduler.stop(timeout)

    def _poll_loop(self):
        while not self._stop.wait(self._poll_wait):
            self.poll_once()

    def poll_once(self):
        """Polls every model's base path once, loading / unloading as needed."""
        for state in list(self._models.values()):
            if self._stop.is_set() and self._thread is not None:
                return
            try:
                self._poll_model(state)
            except Exception:  # never let the poller die
                logging.exception("error while polling model %s", state.config.name)

    # -- polling one model --------------------------------------------------

    def _list_versions(self, state):
        base = state.config.base_path
        try:
            names = os.listdir(base)
        except OSError as e:
            self._warn_once(
                state,
                ("base", str(e)),
                "model %s: cannot list base path %s: %s",
                state.config.name,
                base,
                e,
            )
            return {}
        versions = {}
        for entry in names:
            path = os.path.join(base, entry)
            if not os.path.isdir(path):
                continue
            if not _VERSION_DIR.match(entry) or int(entry) > _MAX_VERSION:
                if entry.isdigit():
                    self._warn_once(
                        state,
                        ("version", entry),
                        "model %s: ignoring version directory %s: not a canonical int64",
                        state.config.name,
                        entry,
                    )
                continue
            if not _is_inside(path, base):
                self._warn_once(
                    state,
                    ("outside", entry),
                    "model %s: ignoring version %s: it resolves outside the base path %s",
                    state.config.name,
                    entry,
                    base,
                )
                continue
            versions[int(entry)] = path
        if not versions:
            self._warn_once(
                state,
                ("empty",),
                "model %s: no versions found under base path %s",
                state.config.name,
                base,
            )
        return versions

    def _poll_model(self, state):
        versions = self._list_versions(state)
        served = state.served
        for version in sorted(versions, reverse=True):
            if served is not None and version == served.version:
                break
            path = versions[version]
            if not os.path.exists(os.path.join(path, SAVED_MODEL_FILENAME)):
                continue  # not written yet; look again next poll
            fingerprint = _fingerprint(path)
            if state.failed.get(version, object()) == fingerprint:
                continue
            if self._load(state, version, path, fingerprint):
                return
        if served is not None and served.version not in versions:
            logging.info(
                "model %s: version %d was removed from disk; unloading",
                state.config.name,
                served.version,
            )
            self._swap(state, None)

    def _load(self, state, version, path, fingerprint):
        name = state.config.name
        logging.info("model %s: loading version %d from %s", name, version, path)
        self._set_status(state, version, _State.LOADING)
        try:
            servable, gradients = _load_servable(name, version, path, self._batch_scheduler)
        except Exception as e:  # any failure: corrupt, half-written, bad graph
            logging.error(
                "model %s: failed to load version %d from %s: %s: %s",
                name,
                version,
                path,
                type(e).__name__,
                e,
            )
            with self._lock:
                state.failed[version] = fingerprint
                state.status[version] = (_State.END, _TF_UNKNOWN, f"{type(e).__name__}: {e}")
            return False
        state.failed.pop(version, None)
        self._swap(state, servable, gradients)
        logging.info("model %s: serving version %d", name, version)
        return True

    def _swap(self, state, servable, gradients=()):
        with self._lock:
            old, state.served = state.served, servable
            old_gradients, state.gradients = state.gradients, list(gradients)
            if servable is not None:
                state.status[servable.version] = (_State.AVAILABLE, _TF_OK, "")
            if old is not None:
                state.status[old.version] = (_State.END, _TF_OK, "")
        if old is not None:
            old.close()
            _unregister(old_gradients)
            logging.info("model %s: unloaded version %d", state.config.name, old.version)

    def _set_status(self, state, version, st, code=_TF_OK, message=""):
        with self._lock:
            state.status[version] = (st, code, message)

    @staticmethod
    def _warn_once(state, key, fmt, *args):
        if key not in state.warned:
            state.warned.add(key)
            logging.warning(fmt, *args)

    # -- queries -------------------------------------------------------------

    def get(self, name, version=None, version_label=None):
        """Returns the :class:`ServableVersion` a request asks for.

        Args:
          name: model name.
          version: a specific integer version, or None for the latest.
          version_label: a label from the model config, or None.
        Raises:
          ServingError: NOT_FOUND ("Servable not found for request: ...") or
            INVALID_ARGUMENT for an unknown version label.
        """
        state = self._models.get(name)
        if version_label:
            labelled = state.config.label_to_version(version_label) if state else None
            if labelled is None:
                raise invalid_argument(f"Unrecognized servable version label: {version_label}")
            version = labelled
        request = f"Latest({name})" if version is None else f"Specific({name}, {int(version)})"
        served = state.served if state else None
        if served is None or (version is not None and served.version != int(version)):
            raise not_found(f"Servable not found for request: {request}")
        return served

    def model_status(self, name, version=None):
        """Returns a ``GetModelStatusResponse`` for a model (or one version of it).

        Raises:
          ServingError: NOT_FOUND as TF Serving words it.
        """
        state = self._models.get(name)
        with self._lock:
            statuses = dict(state.status) if state else {}
        if not statuses:
            raise not_found(f"Could not find any versions of model {name}")
        if version is not None:
            if int(version) not in statuses:
                raise not_found(f"Could not find version {int(version)} of model {name}")
            statuses = {int(version): statuses[int(version)]}
        response = get_model_status_pb2.GetModelStatusResponse()
        for v in sorted(statuses, reverse=True):
            st, code, message = statuses[v]
            entry = response.model_version_status.add(version=v, state=st)
            entry.status.error_code = code
            entry.status.error_message = message
        return response


def require_model_spec(request):
    """Raises INVALID_ARGUMENT "Missing ModelSpec" when a request has none."""
    if not request.HasField("model_spec") or not request.model_spec.name:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
    return request.model_spec


def resolve(manager, model_spec):
    """Returns the ServableVersion a ``ModelSpec`` proto designates."""
    choice = model_spec.WhichOneof("version_choice")
    version = model_spec.version.value if choice == "version" else None
    label = model_spec.version_label if choice == "version_label" else None
    return manager.get(model_spec.name, version, label)
