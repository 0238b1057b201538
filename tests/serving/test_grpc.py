"""PredictionService / ModelService over gRPC, through the real TF Serving stubs."""

import concurrent.futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tests.serving.conftest import WEIGHTS, ServerProcess, install_version, predict_request

MAX_REQUEST_BYTES = 1_000_000
X = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], np.float32)


@pytest.fixture(scope="module")
def server(tmp_path_factory, saved_models):
    base = tmp_path_factory.mktemp("grpc") / "toy"
    base.mkdir()
    install_version(str(base), 1, saved_models[1])
    srv = ServerProcess(
        "--model_name=toy", f"--model_base_path={base}", f"--max_request_bytes={MAX_REQUEST_BYTES}"
    )
    yield srv
    assert srv.terminate() == 0, srv.output()


@pytest.fixture(scope="module")
def channel(server):
    ch = server.channel()
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def model_stub(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def assert_serves(stub, version=1):
    response = stub.Predict(predict_request({"x": X}), timeout=30)
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["y"]), X * np.array(WEIGHTS) + version
    )


def test_predict_default_signature(stub):
    response = stub.Predict(predict_request({"x": X}), timeout=30)
    assert response.model_spec.name == "toy"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    assert list(response.outputs) == ["y"]
    y = tf.make_ndarray(response.outputs["y"])
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, X * np.array(WEIGHTS) + 1)


def test_predict_second_signature_with_output_filter(stub):
    inputs = {"a": np.array([1, 5], np.int64), "s": np.array([b"ab", b"xyz"], object)}
    response = stub.Predict(predict_request(inputs, signature_name="second"), timeout=30)
    assert sorted(response.outputs) == ["a2", "n", "v"]
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["a2"]), [2, 10])
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["n"]), [2, 3])
    filtered = stub.Predict(
        predict_request(inputs, signature_name="second", output_filter=["n"]), timeout=30
    )
    assert list(filtered.outputs) == ["n"]


def test_predict_specific_version(stub):
    response = stub.Predict(predict_request({"x": X}, version=1), timeout=30)
    assert response.model_spec.version.value == 1


def test_get_model_metadata(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "toy"
    response = stub.GetModelMetadata(request, timeout=30)
    assert response.model_spec.name == "toy" and response.model_spec.version.value == 1
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(sig_map)
    assert {"serving_default", "second", "check"} <= set(sig_map.signature_def)
    x = sig_map.signature_def["serving_default"].inputs["x"]
    assert x.dtype == tf.float32.as_datatype_enum
    assert [d.size for d in x.tensor_shape.dim] == [-1, 3]
    assert list(sig_map.signature_def["serving_default"].outputs) == ["y"]
    second = sig_map.signature_def["second"]
    assert second.inputs["a"].dtype == tf.int64.as_datatype_enum
    assert second.inputs["s"].dtype == tf.string.as_datatype_enum


def test_get_model_status(model_stub):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "toy"
    response = model_stub.GetModelStatus(request, timeout=30)
    assert len(response.model_version_status) == 1
    status = response.model_version_status[0]
    assert status.version == 1
    assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert status.status.error_code == 0 and status.status.error_message == ""


def _predict(**kwargs):
    return lambda stub, model_stub: stub.Predict(predict_request(**kwargs), timeout=30)


def _metadata(fields, name="toy"):
    def call(stub, model_stub):
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
        request.model_spec.name = name
        return stub.GetModelMetadata(request, timeout=30)

    return call


def _status(name, version=None):
    def call(stub, model_stub):
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name
        if version is not None:
            request.model_spec.version.value = version
        return model_stub.GetModelStatus(request, timeout=30)

    return call


GOOD_SECOND = {"a": np.array([1], np.int64), "s": np.array([b"q"], object)}

ERROR_CASES = {
    "unknown_model": (
        _predict(inputs={"x": X}, name="nope"),
        grpc.StatusCode.NOT_FOUND,
        ["Servable not found for request: Latest(nope)"],
    ),
    "unknown_version": (
        _predict(inputs={"x": X}, version=7),
        grpc.StatusCode.NOT_FOUND,
        ["Servable not found for request: Specific(toy, 7)"],
    ),
    "unknown_signature": (
        _predict(inputs={"x": X}, signature_name="nope"),
        grpc.StatusCode.FAILED_PRECONDITION,
        ['Serving signature key "nope" not found.'],
    ),
    "missing_input": (
        _predict(inputs={"a": GOOD_SECOND["a"]}, signature_name="second"),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["Missing but required: {s}"],
    ),
    "extra_input": (
        _predict(inputs={"x": X, "extra": X}),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["Sent extra: {extra}"],
    ),
    "wrong_input_name": (
        _predict(inputs={"z": X}),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["input tensor alias not found in signature: z"],
    ),
    "wrong_dtype": (
        _predict(inputs={"x": X.astype(np.float64)}),
        grpc.StatusCode.INVALID_ARGUMENT,
        ['"x"', "DT_DOUBLE", "DT_FLOAT"],
    ),
    "wrong_shape": (
        _predict(inputs={"x": np.zeros([2, 4], np.float32)}),
        grpc.StatusCode.INVALID_ARGUMENT,
        ['"x"', "[2,4]", "[-1,3]"],
    ),
    "wrong_rank": (
        _predict(inputs={"x": np.zeros([3], np.float32)}),
        grpc.StatusCode.INVALID_ARGUMENT,
        ['"x"', "rank 1", "rank 2"],
    ),
    "bad_output_filter": (
        _predict(inputs={"x": X}, output_filter=["nope"]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["output tensor alias not found in signature: nope"],
    ),
    "runtime_failure": (
        _predict(inputs={"x": np.array([1.0, -1.0], np.float32)}, signature_name="check"),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["x must be non-negative"],
    ),
    "missing_model_spec": (
        _predict(inputs={"x": X}, name=""),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["Missing ModelSpec"],
    ),
    "too_large": (
        _predict(inputs={"x": np.zeros([MAX_REQUEST_BYTES // 12 + 10, 3], np.float32)}),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        [],
    ),
    "metadata_unknown_model": (
        _metadata(["signature_def"], name="nope"),
        grpc.StatusCode.NOT_FOUND,
        ["Servable not found for request: Latest(nope)"],
    ),
    "metadata_no_field": (
        _metadata([]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["at least one metadata_field"],
    ),
    "metadata_bad_field": (
        _metadata(["nope"]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["nope is not supported"],
    ),
    "status_unknown_model": (
        _status("nope"),
        grpc.StatusCode.NOT_FOUND,
        ["Could not find any versions of model nope"],
    ),
    "status_unknown_version": (
        _status("toy", 9),
        grpc.StatusCode.NOT_FOUND,
        ["Could not find version 9 of model toy"],
    ),
    "classify": (
        lambda stub, _: stub.Classify(classification_pb2.ClassificationRequest(), timeout=30),
        grpc.StatusCode.UNIMPLEMENTED,
        ["Classify"],
    ),
    "regress": (
        lambda stub, _: stub.Regress(regression_pb2.RegressionRequest(), timeout=30),
        grpc.StatusCode.UNIMPLEMENTED,
        ["Regress"],
    ),
    "multi_inference": (
        lambda stub, _: stub.MultiInference(inference_pb2.MultiInferenceRequest(), timeout=30),
        grpc.StatusCode.UNIMPLEMENTED,
        ["MultiInference"],
    ),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_error_status_codes_and_server_stays_up(case, server, stub, model_stub):
    call, code, fragments = ERROR_CASES[case]
    with pytest.raises(grpc.RpcError) as info:
        call(stub, model_stub)
    assert info.value.code() == code, info.value.details()
    for fragment in fragments:
        assert fragment in info.value.details()
    assert_serves(stub)  # the next request succeeds: the server stayed up
    assert server.proc.poll() is None


def test_exact_not_found_message(stub):
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(predict_request({"x": X}, name="nope"), timeout=30)
    assert info.value.details() == "Servable not found for request: Latest(nope)"


def test_concurrent_predicts(stub):
    def one(i):
        x = np.full([1 + i % 4, 3], float(i), np.float32)
        response = stub.Predict(predict_request({"x": x}), timeout=60)
        return x, tf.make_ndarray(response.outputs["y"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for x, y in pool.map(one, range(64)):
            np.testing.assert_allclose(y, x * np.array(WEIGHTS) + 1)
