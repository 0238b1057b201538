"""The findings of an operator's probe, one test each: refused with a status, the server stays up.

In-process and fast: the codecs, the REST request logic, the gRPC servicer's
pre-work checks and the model manager's version discovery, each driven
directly. `test_fuzz.py` throws random requests at every exported model.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2

from serving import grpc_service
from serving import tensor_codec as codec
from serving.errors import ServingError
from serving.model_manager import ModelConfig, ModelManager, load_model_configs
from serving.rest import RestApi
from tests.serving.conftest import install_version

I32, I64, F32, BOOL = (
    dtype.as_datatype_enum for dtype in (tf.int32, tf.int64, tf.float32, tf.bool)
)


def _refused(call, code="INVALID_ARGUMENT"):
    with pytest.raises(ServingError) as info:
        call()
    assert info.value.code.name == code, info.value
    return info.value.message


@pytest.mark.parametrize(
    "value, dtype, message",
    [
        ([2**32 + 3], I32, "4294967299 is out of the range of int32"),
        ([-(2**31) - 1], I32, "out of the range of int32"),
        ([2**63], I64, "9223372036854775808 is out of the range of int64"),
        ([2**64], I64, "got strings or objects"),  # past uint64: numpy keeps Python ints
        ([True], I32, "(numeric) values"),
        ([[1, True]], I64, "(numeric) values"),  # numpy would turn it into [1, 1]
        ([False, 1.5], F32, "(numeric) values"),
        ([1], BOOL, "(true/false) values"),
    ],
)
def test_json_values_never_wrap_or_change_type(value, dtype, message):
    assert message in _refused(lambda: codec.json_to_ndarray(value, dtype, "k"))


def test_json_integers_at_the_edges_of_their_dtype_are_kept():
    assert codec.json_to_ndarray([-(2**63), 2**63 - 1], I64, "k").tolist() == [
        -(2**63),
        2**63 - 1,
    ]
    assert codec.json_to_ndarray([[2**31 - 1]], I32, "k").dtype == np.int32


def _declared(shape, dtype=tf.float32):
    """A TensorProto that declares `shape` and carries no values (40 bytes on the wire)."""
    return tensor_pb2.TensorProto(
        dtype=dtype.as_datatype_enum,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape]
        ),
    )


def test_a_declared_shape_is_bounded_before_anything_is_allocated():
    proto = _declared([100000, 8, 8, 1])
    assert proto.ByteSize() < 40
    message = _refused(
        lambda: codec.tensor_proto_to_ndarray(proto, "image", max_elements=1 << 22),
        "RESOURCE_EXHAUSTED",
    )
    assert "6400000 elements" in message and "--max_tensor_elements" in message
    # 2^62 elements would take exabytes if TensorFlow filled them in.
    _refused(lambda: codec.tensor_proto_to_ndarray(_declared([2**31, 2**31])), "RESOURCE_EXHAUSTED")
    _refused(lambda: codec.tensor_proto_to_ndarray(_declared([2, -1])))
    unknown = _declared([2])
    unknown.tensor_shape.unknown_rank = True
    _refused(lambda: codec.tensor_proto_to_ndarray(unknown))
    # Within the bound, TensorFlow's own rule stands: missing values are zeros.
    np.testing.assert_array_equal(
        codec.tensor_proto_to_ndarray(_declared([2, 3])), np.zeros([2, 3])
    )


class _Manager:
    """Stands in for the ModelManager: every model has one servable."""

    def __init__(self, servable):
        self.servable = servable

    def get(self, name, version=None, label=None):
        return self.servable


class _Servable:
    def input_dtypes(self, signature_name):
        return {"x": F32}

    def predict(self, signature_name, inputs, input_dtypes=None, output_filter=()):
        return "serving_default", {"y": inputs["x"] * 2}


def _rest(body, max_tensor_elements=8):
    api = RestApi(_Manager(_Servable()), 1 << 20, max_tensor_elements)
    encoded = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.handle("POST", "/v1/models/m:predict", lambda limit: encoded)


def test_rest_deep_nesting_and_large_tensors_are_client_errors():
    assert _rest({"instances": [[1.0, 2.0]]}) == (200, {"predictions": [[2.0, 4.0]]})
    status, document = _rest(b'{"instances": ' + b"[" * 100000 + b"]" * 100000 + b"}")
    assert status == 400 and "nested too deeply" in document["error"]
    status, document = _rest({"instances": [[0.0] * 9]})
    assert status == 429 and "--max_tensor_elements" in document["error"]


class _Context:
    def __init__(self, active=True, remaining=None):
        self._active, self._remaining = active, remaining

    def is_active(self):
        return self._active

    def time_remaining(self):
        return self._remaining


def test_no_work_starts_for_a_client_that_is_gone():
    grpc_service._check_still_wanted(_Context(remaining=1.0))
    grpc_service._check_still_wanted(_Context(remaining=None))
    _refused(lambda: grpc_service._check_still_wanted(_Context(remaining=0.0)), "DEADLINE_EXCEEDED")
    _refused(lambda: grpc_service._check_still_wanted(_Context(active=False)), "CANCELLED")


def test_version_directories_are_canonical_int64s_inside_the_base_path(tmp_path, saved_models):
    base, outside = tmp_path / "base", tmp_path / "outside"
    base.mkdir()
    for name in ("1", "99999999999999999999", "0007", "3.0"):
        install_version(str(base), name, saved_models[1])
    install_version(str(outside), "5", saved_models[2])
    os.symlink(outside / "5", base / "5")  # a symlink out of the base path
    manager = ModelManager([ModelConfig("m", str(base))], poll_wait_seconds=0)
    manager.start()
    assert manager.get("m").version == 1
    status = manager.model_status("m")
    assert [v.version for v in status.model_version_status] == [1]
    with pytest.raises(ServingError, match="Specific"):
        manager.get("m", 99999999999999999999)


@pytest.mark.parametrize("name", ["../etc", "a/b", "..", " m", "/abs"])
def test_model_names_are_not_paths(tmp_path, name):
    with pytest.raises(ValueError, match="not a path"):
        load_model_configs(name, str(tmp_path))
