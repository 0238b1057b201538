"""Hostile requests for property-based fuzzing (hypothesis) of a served signature.

`predict_requests` draws gRPC `PredictRequest`s (random dtypes, shapes and
sizes, NaN/Inf, empty tensors, shapes declared without values, huge
dimensions, missing and extra inputs); `rest_bodies` draws REST bodies (row
and columnar formats, b64 strings, wrong nesting, malformed JSON). The
conformance suite sends them to every signature of every exported model.
"""

import http.client
import json

import grpc
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.model_manager import ModelConfig
from serving.server import ModelServer
from tfgen import registry
from tfgen.signatures import SignatureLimits

# The limits exports are fuzzed under: any request they accept is cheap.
LIMITS = SignatureLimits(max_examples=4, max_count=8, max_work=32)
MAX_TENSOR_ELEMENTS = 4096
MAX_REQUEST_BYTES = 1 << 20
# A client's mistakes; OK when the request happened to be valid.
GRPC_ANSWERS = {"OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION"}
HTTP_ANSWERS = {200, 400, 404, 413, 429}
DTYPES = [tf.float32, tf.float64, tf.int32, tf.int64, tf.uint8, tf.bool, tf.string]
# Derandomized: a failure reproduces on every run.
SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def input_specs(signature_def):
    """{key: (tf.DType, shape list with -1 for any size)} of a SignatureDef's inputs."""
    return {
        key: (tf.dtypes.as_dtype(info.dtype), [d.size for d in info.tensor_shape.dim])
        for key, info in signature_def.inputs.items()
    }


def _shapes(shape):
    """The signature's shape with random sizes for -1, or any small shape."""
    fitted = st.tuples(*[st.integers(0, 5) if d == -1 else st.just(d) for d in shape])
    return st.one_of(fitted, fitted, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0))


def _elements(dtype):
    if dtype.is_floating:
        return st.floats(width=32 if dtype == tf.float32 else 64, allow_subnormal=False)
    if dtype.is_integer:
        return st.one_of(st.integers(max(-2, dtype.min), 9), st.integers(dtype.min, dtype.max))
    if dtype.is_bool:
        return st.booleans()
    return st.binary(max_size=4)


@st.composite
def _tensor_protos(draw, dtype, shape):
    dtype = draw(st.one_of(st.just(dtype), st.sampled_from(DTYPES)))
    shape = draw(_shapes(shape))
    how = draw(st.sampled_from(["values", "values", "values", "declared", "huge"]))
    if how == "huge":  # a few bytes declaring a huge tensor without its values
        shape = (draw(st.integers(MAX_TENSOR_ELEMENTS + 1, 2**40)), *shape[1:])
    if how != "values":
        proto = tf.make_tensor_proto(np.zeros([0], dtype.as_numpy_dtype), dtype=dtype)
        proto.tensor_shape.Clear()
        for size in shape:
            proto.tensor_shape.dim.add(size=size)
        return proto
    numpy_dtype = object if dtype == tf.string else dtype.as_numpy_dtype
    array = draw(hnp.arrays(numpy_dtype, shape, elements=_elements(dtype)))
    return tf.make_tensor_proto(array, dtype=dtype)


@st.composite
def predict_requests(draw, name, signature, specs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    for key, (dtype, shape) in specs.items():
        if draw(st.integers(0, 9)):  # sometimes leave an input out
            request.inputs[key].CopyFrom(draw(_tensor_protos(dtype, shape)))
    if not draw(st.integers(0, 9)):
        request.inputs["not_an_input"].CopyFrom(tf.make_tensor_proto([1.0]))
    return request


_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=4),
    st.fixed_dictionaries({"b64": st.text(max_size=8)}),
)
_ANY_JSON = st.recursive(
    _JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=12,
)


def _nested(dtype, shape):
    """A JSON value of the signature's shape (random sizes for -1) and dtype, or close to it."""
    sizes = st.tuples(*[st.integers(0, 4) if d == -1 else st.just(d) for d in shape])
    element = _JSON_SCALARS if dtype == tf.string else _elements(dtype)
    return sizes.flatmap(
        lambda s: hnp.arrays(object, s, elements=element).map(lambda a: a.tolist())
    )


@st.composite
def rest_bodies(draw, signature, specs):
    how = draw(st.sampled_from(["columnar", "rows", "any", "malformed"]))
    if how == "malformed":
        return draw(st.one_of(st.binary(max_size=32), st.text(max_size=32).map(str.encode)))
    if how == "any":
        return json.dumps(draw(_ANY_JSON)).encode()
    values = {
        key: draw(st.one_of(_nested(dtype, shape), _ANY_JSON))
        for key, (dtype, shape) in specs.items()
    }
    if how == "columnar":
        document = {"inputs": values}
    else:  # one instance per row of the first input, each naming every input
        rows = draw(st.integers(0, 3))
        document = {"instances": [{k: v for k, v in values.items()} for _ in range(rows)]}
    if draw(st.booleans()):
        document["signature_name"] = signature
    return json.dumps(document).encode()


# -- the property ---------------------------------------------------------------


def fuzz_model(name, base_path):
    """Serves `base_path` as model `name` in-process and sends each signature hostile requests.

    The signatures are the registry's for `name`. Asserts every gRPC and REST answer is a
    client's status (`GRPC_ANSWERS`, `HTTP_ANSWERS`) and that the server still answers after
    each signature's requests.
    """
    server = ModelServer(
        [ModelConfig(name, base_path)],
        port=0,
        enable_rest=True,
        file_system_poll_wait_seconds=0,
        max_request_bytes=MAX_REQUEST_BYTES,
        max_tensor_elements=MAX_TENSOR_ELEMENTS,
    )
    with server, grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        signature_defs = server.manager.get(name).signature_defs
        for signature in registry.get(name).signatures:
            specs = input_specs(signature_defs[signature])
            _fuzz_grpc(stub, name, signature, specs)
            _fuzz_rest(server.rest_port, name, signature, specs)
            _assert_still_serving(stub, f"{name}/{signature}")


def _fuzz_grpc(stub, name, signature, specs):
    @SETTINGS
    @given(request=predict_requests(name, signature, specs))
    def fuzz(request):
        try:
            stub.Predict(request, timeout=60)
        except grpc.RpcError as e:
            assert e.code().name in GRPC_ANSWERS, f"{e.code()}: {e.details()}"

    fuzz()


def _fuzz_rest(port, name, signature, specs):
    @SETTINGS
    @given(body=rest_bodies(signature, specs))
    def fuzz(body):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("POST", f"/v1/models/{name}:predict", body=body)
            response = connection.getresponse()
            status, document = response.status, json.loads(response.read())
        finally:
            connection.close()
        assert status in HTTP_ANSWERS, f"{status}: {document}"
        assert (status == 200) != ("error" in document), document

    fuzz()


def _assert_still_serving(stub, what):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "no_such_model"
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND, f"server down after fuzzing {what}"
