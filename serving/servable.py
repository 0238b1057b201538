"""One loaded model version (a servable) and how a Predict runs against it.

A :class:`ServableVersion` wraps ``tf.saved_model.load`` of
``BASE/<version>/`` together with the ``SignatureDef``s read from the same
``saved_model.pb``, so requests are checked against exactly what
``saved_model_cli show`` (and real TF Serving) would describe.
"""

import functools
import os

import grpc
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from serving.batching import is_batchable
from serving.errors import ServingError, grpc_code_from_tf, invalid_argument
from serving.tensor_codec import dtype_name, shape_to_list

DEFAULT_SERVING_SIGNATURE_DEF_KEY = "serving_default"
SERVE_TAG = "serve"
SAVED_MODEL_FILENAME = "saved_model.pb"


def read_signature_defs(export_dir):
    """Reads the ``SignatureDef`` map of the "serve" MetaGraphDef of a SavedModel.

    Returns:
      (tags, dict key -> SignatureDef proto) of the chosen meta graph.
    Raises:
      OSError / google.protobuf.message.DecodeError for an unreadable file.
    """
    with open(os.path.join(export_dir, SAVED_MODEL_FILENAME), "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    if not saved_model.meta_graphs:
        raise ValueError(f"{export_dir}/{SAVED_MODEL_FILENAME} has no MetaGraphDef")
    chosen = saved_model.meta_graphs[0]
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            chosen = meta_graph
            break
    return list(chosen.meta_info_def.tags), dict(chosen.signature_def)


def _format_shape(shape):
    return "<unknown rank>" if shape is None else "[" + ",".join(str(d) for d in shape) + "]"


def _check_shape(key, expected, got):
    """Raises INVALID_ARGUMENT if ``got`` (a tuple) does not fit ``expected`` (list, -1 = any)."""
    if expected is None:
        return
    if len(expected) != len(got) or any(e not in (-1, g) for e, g in zip(expected, got)):
        raise invalid_argument(
            f'Input "{key}" has shape {_format_shape(list(got))} (rank {len(got)}) '
            f"but the signature expects {_format_shape(expected)} (rank {len(expected)}; "
            "-1 means any size)"
        )


def _set_str(keys):
    return "{" + ",".join(sorted(keys)) + "}"


class ServableVersion:
    """A loaded version of a model: its signatures and their SignatureDefs.

    Args:
      name: the model name.
      version: the integer version (the directory name).
      export_dir: the ``BASE/<version>`` directory holding the SavedModel.
      batch_scheduler: a :class:`serving.batching.BatchScheduler` to batch the
        requests of every batchable signature (``--enable_batching``), or None.

    Loading happens in the constructor and raises on any failure (missing or
    corrupt files, unloadable graph); a half-built object is never returned.
    """

    def __init__(self, name, version, export_dir, batch_scheduler=None):
        self.name = name
        self.version = int(version)
        self.export_dir = export_dir
        tags, self.signature_defs = read_signature_defs(export_dir)
        self._loaded = tf.saved_model.load(export_dir, tags=tags or None)
        self._functions = {k: self._loaded.signatures[k] for k in self._loaded.signatures.keys()}
        self._batch_queues = {}
        if batch_scheduler is not None:
            self._add_batch_queues(batch_scheduler)

    def __repr__(self):
        return f"ServableVersion({self.name!r}, {self.version})"

    def _add_batch_queues(self, scheduler):
        for key, sig in self.signature_defs.items():
            if key in self._functions and is_batchable(sig):
                run = functools.partial(
                    self._run, self._functions[key], sig, wanted=sorted(sig.outputs)
                )
                self._batch_queues[key] = scheduler.add_queue(
                    run, f"{self.name}/{self.version}/{key}"
                )

    def close(self):
        """Stops batching (on unload): queued requests still run, later ones run on their own."""
        for queue in self._batch_queues.values():
            queue.close()

    def signature_def_map(self):
        """Returns a ``tensorflow.serving.SignatureDefMap`` proto (as GetModelMetadata sends)."""
        result = get_model_metadata_pb2.SignatureDefMap()
        for key, sig in self.signature_defs.items():
            result.signature_def[key].CopyFrom(sig)
        return result

    def signature(self, signature_name):
        """Returns (resolved key, SignatureDef, ConcreteFunction) or raises FAILED_PRECONDITION."""
        key = signature_name or DEFAULT_SERVING_SIGNATURE_DEF_KEY
        sig = self.signature_defs.get(key)
        fn = self._functions.get(key)
        if sig is None or fn is None:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{key}" not found.'
            )
        return key, sig, fn

    def input_dtypes(self, signature_name):
        """Returns {input key: DataType enum} of a signature."""
        _, sig, _ = self.signature(signature_name)
        return {k: info.dtype for k, info in sig.inputs.items()}

    def predict(self, signature_name, inputs, input_dtypes=None, output_filter=()):
        """Runs a signature on validated inputs.

        Args:
          signature_name: signature key ("" means "serving_default").
          inputs: {input key: numpy array}.
          input_dtypes: {input key: DataType enum} the client declared (gRPC);
            None when the arrays were already converted to the signature's dtypes.
          output_filter: output keys to return (empty: all).

        Returns:
          (resolved signature key, {output key: numpy array}).
        Raises:
          ServingError: FAILED_PRECONDITION for an unknown signature,
            INVALID_ARGUMENT for bad keys, dtypes, shapes or output filter, and
            the TF error's code when the signature fails at run time; with
            batching, also UNAVAILABLE for a full queue, INVALID_ARGUMENT for
            more rows than ``max_batch_size``, and the error of the merged
            batch the request ran in.
        """
        key, sig, fn = self.signature(signature_name)
        self._check_input_keys(sig, inputs)
        wanted = self._check_output_filter(sig, output_filter)
        feeds = {}
        for k, array in inputs.items():
            info = sig.inputs[k]
            got_dtype = info.dtype if input_dtypes is None else input_dtypes[k]
            if got_dtype != info.dtype:
                raise invalid_argument(
                    f'Input "{k}" has dtype {dtype_name(got_dtype)} but the signature expects '
                    f"{dtype_name(info.dtype)}"
                )
            _check_shape(k, shape_to_list(info.tensor_shape), array.shape)
            feeds[k] = array
        queue = self._batch_queues.get(key)
        if queue is None:
            return key, self._run(fn, sig, feeds, wanted)
        outputs = queue.schedule(feeds).result()
        return key, {k: outputs[k] for k in wanted}

    @staticmethod
    def _check_input_keys(sig, inputs):
        sent, expected = set(inputs), set(sig.inputs)
        if len(sent) != len(expected):
            raise invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({_set_str(sent)}) != len({_set_str(expected)}). "
                f"Sent extra: {_set_str(sent - expected)}. "
                f"Missing but required: {_set_str(expected - sent)}."
            )
        extra = sorted(sent - expected)
        if extra:
            raise invalid_argument(
                f"input tensor alias not found in signature: {extra[0]}. "
                f"Inputs expected to be in the set {_set_str(expected)}."
            )

    @staticmethod
    def _check_output_filter(sig, output_filter):
        wanted = []
        for k in output_filter:
            if k not in sig.outputs:
                raise invalid_argument(
                    f"output tensor alias not found in signature: {k} "
                    f"Outputs expected to be in the set {_set_str(sig.outputs)}."
                )
            if k in wanted:
                raise invalid_argument(f"duplicate output tensor alias: {k}")
            wanted.append(k)
        return wanted or sorted(sig.outputs)

    @staticmethod
    def _run(fn, sig, feeds, wanted):
        try:
            tensors = {
                k: tf.convert_to_tensor(v, dtype=tf.dtypes.as_dtype(sig.inputs[k].dtype))
                for k, v in feeds.items()
            }
            results = fn(**tensors)
        except tf.errors.OpError as e:
            raise ServingError(grpc_code_from_tf(e.error_code), e.message) from None
        except (TypeError, ValueError) as e:
            raise invalid_argument(str(e)) from None
        if not isinstance(results, dict):
            results = {sorted(sig.outputs)[0]: results}
        missing = [k for k in wanted if k not in results]
        if missing:
            raise ServingError(
                grpc.StatusCode.INTERNAL, f"signature did not return outputs {missing}"
            )
        return {k: results[k].numpy() for k in wanted}
