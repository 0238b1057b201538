"""Conversions between numpy arrays, ``TensorProto``s and TF Serving's JSON.

gRPC requests carry ``tensorflow.TensorProto``s; the REST API carries JSON in
TF Serving's row (``instances`` -> ``predictions``) and columnar (``inputs`` ->
``outputs``) formats, with binary strings written as ``{"b64": "..."}``.
"""

import base64
import math

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from serving.errors import ServingError, invalid_argument

DEFAULT_MAX_TENSOR_ELEMENTS = 1 << 22

__all__ = [
    "DEFAULT_MAX_TENSOR_ELEMENTS",
    "check_num_elements",
    "dtype_name",
    "shape_to_list",
    "tensor_proto_to_ndarray",
    "ndarray_to_tensor_proto",
    "json_to_ndarray",
    "ndarray_to_json",
    "instances_to_inputs",
    "columnar_to_inputs",
    "outputs_to_predictions",
    "outputs_to_columnar",
]


def dtype_name(dtype_enum):
    """Returns the proto name of a ``DataType`` enum, e.g. ``"DT_FLOAT"``."""
    try:
        return types_pb2.DataType.Name(int(dtype_enum))
    except ValueError:
        return f"DT_<{int(dtype_enum)}>"


def shape_to_list(tensor_shape_proto):
    """Returns a ``TensorShapeProto`` as a list of ints (-1 unknown), or None for unknown rank."""
    if tensor_shape_proto.unknown_rank:
        return None
    return [int(d.size) for d in tensor_shape_proto.dim]


def check_num_elements(name, shape, max_elements):
    """Raises RESOURCE_EXHAUSTED when a tensor of ``shape`` has more than ``max_elements``."""
    num_elements = math.prod(shape)
    if num_elements > max_elements:
        raise ServingError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f'Input "{name}" has shape {list(shape)} ({num_elements} elements); the limit is '
            f"{max_elements} elements per tensor (--max_tensor_elements)",
        )


def tensor_proto_to_ndarray(proto, name="tensor", max_elements=DEFAULT_MAX_TENSOR_ELEMENTS):
    """Decodes a request ``TensorProto`` to a numpy array.

    The declared shape is checked before anything is allocated: a few bytes
    may declare a huge tensor whose missing values TensorFlow fills in.

    Raises:
      ServingError: INVALID_ARGUMENT if the proto is malformed,
        RESOURCE_EXHAUSTED if it declares more than ``max_elements`` values.
    """
    if proto.tensor_shape.unknown_rank:
        raise invalid_argument(f"tensor parsing error: {name}: the shape has unknown rank")
    shape = [d.size for d in proto.tensor_shape.dim]
    if any(size < 0 for size in shape):
        raise invalid_argument(f"tensor parsing error: {name}: negative dimension in {shape}")
    check_num_elements(name, shape, max_elements)
    try:
        return tf.make_ndarray(proto)
    except Exception as e:  # TF raises TypeError/ValueError/InvalidArgument here.
        raise invalid_argument(f"tensor parsing error: {name}: {e}") from None


def ndarray_to_tensor_proto(array):
    """Encodes a numpy array (output of a signature) as a ``TensorProto``."""
    return tf.make_tensor_proto(array)


# ---------------------------------------------------------------------------
# JSON -> numpy


def _is_b64(value):
    return isinstance(value, dict) and set(value) == {"b64"}


def _decode_strings(value, name):
    """Turns nested lists of str / {"b64": ...} into nested lists of bytes."""
    if isinstance(value, list):
        return [_decode_strings(v, name) for v in value]
    if _is_b64(value):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (ValueError, TypeError) as e:
            raise invalid_argument(f'Input "{name}": invalid base64 string: {e}') from None
    if isinstance(value, str):
        return value.encode("utf-8")
    raise invalid_argument(
        f'Input "{name}": expected a string or {{"b64": ...}} for DT_STRING, '
        f"got {type(value).__name__}"
    )


def _rectangular(value, name, dtype=None):
    """np.asarray that refuses ragged nested lists with a clear message."""
    try:
        return np.asarray(value, dtype=dtype)
    except (ValueError, TypeError) as e:
        raise invalid_argument(
            f'Input "{name}": JSON value is not a rectangular array of the expected type: {e}'
        ) from None


def json_to_ndarray(value, dtype_enum, name):
    """Converts a JSON value to a numpy array of the signature's dtype.

    Args:
      value: the decoded JSON (number, bool, string, {"b64"}, nested lists).
      dtype_enum: the ``DataType`` the signature expects, or None to infer.
      name: the input key, for error messages.

    Raises:
      ServingError: INVALID_ARGUMENT for ragged lists or type mismatches.
    """
    if dtype_enum == types_pb2.DT_STRING:
        array = _rectangular(_decode_strings(value, name), name, dtype=object)
        if array.dtype != object:
            array = array.astype(object)
        return array
    raw = _rectangular(value, name)
    if dtype_enum is None:
        return raw
    tf_dtype = tf.dtypes.as_dtype(dtype_enum)
    expected = dtype_name(dtype_enum)
    if raw.dtype.kind in "USO":
        raise invalid_argument(
            f'Input "{name}": expected {expected} values, got strings or objects'
        )
    if raw.size and tf_dtype.is_integer and raw.dtype.kind == "f":
        raise invalid_argument(f'Input "{name}": expected {expected} (integer) values, got floats')
    if raw.size and tf_dtype.is_bool != (raw.dtype.kind == "b" or _has_bool(value)):
        kind = "true/false" if tf_dtype.is_bool else "numeric"
        raise invalid_argument(f'Input "{name}": expected {expected} ({kind}) values')
    if raw.size and tf_dtype.is_integer and raw.dtype.kind in "iu":
        _check_integer_range(raw, tf_dtype, name)
    return raw.astype(tf_dtype.as_numpy_dtype)


def _has_bool(value):
    """Whether a JSON value holds a true/false anywhere (numpy turns [true, 2] into [1, 2])."""
    # One pass over the flat values' types: half the time of recursing through the lists.
    return bool in set(map(type, np.asarray(value, dtype=object).ravel()))


def _check_integer_range(raw, tf_dtype, name):
    """Refuses integers the signature's dtype cannot hold, as TF Serving's JSON reader does."""
    low, high = int(raw.min()), int(raw.max())
    if low < tf_dtype.min or high > tf_dtype.max:
        bad = low if low < tf_dtype.min else high
        raise invalid_argument(
            f'Input "{name}": {bad} is out of the range of {tf_dtype.name} '
            f"[{tf_dtype.min}, {tf_dtype.max}]"
        )


def instances_to_inputs(instances, input_dtypes):
    """Converts TF Serving's row format (``"instances"``) to named input arrays.

    Each instance is either the value of the single input, or an object
    mapping every input key to that row's value; rows are stacked on axis 0.

    Args:
      instances: the JSON list under ``"instances"``.
      input_dtypes: mapping input key -> ``DataType`` from the signature.
    """
    if not isinstance(instances, list) or not instances:
        raise invalid_argument('"instances" must be a non-empty JSON array')
    named = [isinstance(r, dict) and not _is_b64(r) for r in instances]
    if any(named) and not all(named):
        raise invalid_argument(
            '"instances" mixes objects and plain values; use one form for every row'
        )
    if not all(named):
        if len(input_dtypes) != 1:
            raise invalid_argument(
                f"The signature has {len(input_dtypes)} inputs "
                f"({', '.join(sorted(input_dtypes))}); each instance must be a JSON object "
                "naming them"
            )
        ((key, dtype),) = input_dtypes.items()
        return {key: json_to_ndarray(instances, dtype, key)}
    keys = set(instances[0])
    for i, row in enumerate(instances):
        if set(row) != keys:
            raise invalid_argument(
                f"instance {i} has keys {sorted(row)} but instance 0 has {sorted(keys)}; "
                "every instance must name the same inputs"
            )
    return {
        k: json_to_ndarray([row[k] for row in instances], input_dtypes.get(k), k)
        for k in sorted(keys)
    }


def columnar_to_inputs(inputs, input_dtypes):
    """Converts TF Serving's columnar format (``"inputs"``) to named input arrays.

    ``inputs`` is either an object mapping input keys to values, or (for a
    signature with a single input) the value itself.
    """
    if isinstance(inputs, dict) and not _is_b64(inputs):
        return {k: json_to_ndarray(v, input_dtypes.get(k), k) for k, v in inputs.items()}
    if len(input_dtypes) != 1:
        raise invalid_argument(
            'The signature has {} inputs ({}); "inputs" must be a JSON object naming them'.format(
                len(input_dtypes), ", ".join(sorted(input_dtypes))
            )
        )
    ((key, dtype),) = input_dtypes.items()
    return {key: json_to_ndarray(inputs, dtype, key)}


# ---------------------------------------------------------------------------
# numpy -> JSON


def ndarray_to_json(array, name):
    """Converts an output array to JSON-ready Python values.

    Strings are decoded as UTF-8, except for outputs whose key ends in
    ``_bytes``, which are written as ``{"b64": ...}`` as TF Serving does.
    """
    array = np.asarray(array)
    if array.dtype.kind in "SO":
        if name.endswith("_bytes"):
            conv = lambda b: {"b64": base64.b64encode(b).decode("ascii")}  # noqa: E731
        else:
            conv = lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else b  # noqa: E731
        return (
            np.vectorize(conv, otypes=[object])(array).tolist()
            if array.ndim
            else conv(array.item())
        )
    return array.tolist()


def outputs_to_predictions(outputs):
    """Row format: splits outputs on axis 0 into a list, one entry per instance."""
    if len(outputs) == 1:
        ((name, array),) = outputs.items()
        if np.ndim(array) == 0:
            raise invalid_argument(
                f'Output "{name}" is a scalar; row format needs a batch dimension'
            )
        return ndarray_to_json(array, name)
    sizes = {k: (np.shape(v)[0] if np.ndim(v) else None) for k, v in outputs.items()}
    if None in sizes.values() or len(set(sizes.values())) != 1:
        raise invalid_argument(
            "Output tensors have inconsistent batch sizes {}; use the columnar "
            '"inputs" format for this signature'.format(sizes)
        )
    columns = {k: ndarray_to_json(v, k) for k, v in outputs.items()}
    n = next(iter(sizes.values()))
    return [{k: columns[k][i] for k in columns} for i in range(n)]


def outputs_to_columnar(outputs):
    """Columnar format: a single output is written bare, several as an object."""
    if len(outputs) == 1:
        ((name, array),) = outputs.items()
        return ndarray_to_json(array, name)
    return {k: ndarray_to_json(v, k) for k, v in outputs.items()}
