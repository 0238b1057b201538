"""Version life cycle: hot swap under load, broken versions, several models."""

import os
import shutil
import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tests.serving.conftest import WEIGHTS, install_version, wait_until

X = np.array([[1.0, 2.0, 3.0]], np.float32)
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE
END = get_model_status_pb2.ModelVersionStatus.END


def predict(stub, name="toy", version=None, label=None):
    """Returns (served version, y) for X."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(X))
    response = stub.Predict(request, timeout=30)
    return response.model_spec.version.value, tf.make_ndarray(response.outputs["y"])


def statuses(channel, name="toy"):
    """Returns {version: (state, error_code)} from GetModelStatus."""
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
    return {s.version: (s.state, s.status.error_code) for s in response.model_version_status}


def make_base(tmp_path, saved_models, *versions, name="toy"):
    base = tmp_path / name
    base.mkdir()
    for v in versions:
        install_version(str(base), v, saved_models[v])
    return base


def test_new_version_is_picked_up_while_requests_keep_succeeding(
    tmp_path, saved_models, server_factory
):
    base = make_base(tmp_path, saved_models, 1)
    srv = server_factory("--model_name=toy", f"--model_base_path={base}")
    channel = srv.channel()
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    stop = threading.Event()
    results = {i: [] for i in range(3)}
    errors = []

    def hammer(i):
        while not stop.is_set():
            try:
                results[i].append(predict(stub))
            except grpc.RpcError as e:  # recorded, asserted empty below
                errors.append(f"{e.code()}: {e.details()}")

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: all(results.values()), message="first responses")
        install_version(str(base), 2, saved_models[2])
        wait_until(
            lambda: all(r and r[-1][0] == 2 for r in results.values()),
            timeout=90,
            message="version 2 to be served",
        )
        counts = {i: len(r) for i, r in results.items()}
        wait_until(
            lambda: all(len(results[i]) > counts[i] + 3 for i in results), message="more responses"
        )
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert errors == []
    for sequence in results.values():
        versions = [v for v, _ in sequence]
        assert versions[0] == 1 and versions[-1] == 2
        assert versions == sorted(versions), "once version 2 answered, version 1 never did again"
        for version, y in sequence:
            np.testing.assert_allclose(y, X * np.array(WEIGHTS) + version)
    # Only the latest version stays loaded.
    assert statuses(channel) == {2: (AVAILABLE, 0), 1: (END, 0)}
    with pytest.raises(grpc.RpcError) as info:
        predict(stub, version=1)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "Servable not found for request: Specific(toy, 1)"
    channel.close()


def test_broken_versions_are_never_served(tmp_path, saved_models, server_factory):
    base = make_base(tmp_path, saved_models, 1)
    os.makedirs(base / ".tmp-9")  # not an integer: ignored
    (base / ".tmp-9" / "saved_model.pb").write_bytes(b"ignored")
    srv = server_factory("--model_name=toy", f"--model_base_path={base}")
    channel = srv.channel()
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    assert predict(stub)[0] == 1

    # A corrupt saved_model.pb.
    os.makedirs(base / "3")
    (base / "3" / "saved_model.pb").write_bytes(b"\x08garbage, not a SavedModel proto")
    wait_until(lambda: statuses(channel).get(3, (None, 0))[0] == END, message="version 3 to fail")
    assert statuses(channel)[3][1] != 0  # END with an error status
    assert predict(stub)[0] == 1

    # A half-written version: the graph is there, the variables are not yet.
    os.makedirs(base / "4")
    shutil.copy(os.path.join(saved_models[4], "saved_model.pb"), base / "4" / "saved_model.pb")
    wait_until(lambda: statuses(channel).get(4, (None, 0))[0] == END, message="version 4 to fail")
    assert statuses(channel)[1] == (AVAILABLE, 0)
    for _ in range(5):
        version, y = predict(stub)
        assert version == 1
        np.testing.assert_allclose(y, X * np.array(WEIGHTS) + 1)
    assert 9 not in statuses(channel)

    # Completing version 4 (its files change) makes it load and serve.
    shutil.rmtree(base / "4")
    install_version(str(base), 4, saved_models[4])
    wait_until(lambda: predict(stub)[0] == 4, timeout=90, message="version 4 to be served")
    np.testing.assert_allclose(predict(stub)[1], X * np.array(WEIGHTS) + 4)
    assert srv.proc.poll() is None
    channel.close()


def test_model_config_file_with_two_models(tmp_path, saved_models, server_factory):
    toy = make_base(tmp_path, saved_models, 1, name="toy")
    other = make_base(tmp_path, saved_models, 2, name="other")
    config = tmp_path / "models.config"
    config.write_text(f"""
model_config_list {{
  config {{ name: "toy" base_path: "{toy}" model_platform: "tensorflow"
           version_labels {{ key: "stable" value: 1 }} }}
  config {{ name: "other" base_path: "{other}" model_platform: "tensorflow" }}
}}
""")
    srv = server_factory(f"--model_config_file={config}")
    channel = srv.channel()
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    version, y = predict(stub, "toy")
    assert version == 1
    np.testing.assert_allclose(y, X * np.array(WEIGHTS) + 1)
    version, y = predict(stub, "other")
    assert version == 2
    np.testing.assert_allclose(y, X * np.array(WEIGHTS) + 2)
    assert statuses(channel, "toy") == {1: (AVAILABLE, 0)}
    assert statuses(channel, "other") == {2: (AVAILABLE, 0)}
    assert predict(stub, "toy", label="stable")[0] == 1
    with pytest.raises(grpc.RpcError) as info:
        predict(stub, "toy", label="canary")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "canary" in info.value.details()
    channel.close()
