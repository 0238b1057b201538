"""Process life cycle (signals, flags), the programmatic API and the client CLI."""

import json
import os
import signal
import subprocess
import sys
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.serving.conftest import REPO_ROOT, WEIGHTS, ServerProcess, install_version


@pytest.fixture(scope="module")
def base(tmp_path_factory, saved_models):
    path = tmp_path_factory.mktemp("lifecycle") / "toy"
    path.mkdir()
    install_version(str(path), 1, saved_models[1])
    return path


def run_python(*args, timeout=120):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_with_exit_code_0(base, sig):
    srv = ServerProcess("--model_name=toy", f"--model_base_path={base}", rest=True)
    assert srv.terminate(sig, timeout=60) == 0, srv.output()
    assert "Server stopped." in srv.output()


def test_bad_flags_exit_nonzero_with_a_clear_error():
    result = run_python("-m", "serving", "--port=0", "--host=127.0.0.1")
    assert result.returncode == 1
    assert "--model_base_path" in result.stderr


def test_programmatic_model_server(base):
    from serving.server import ModelServer

    server = ModelServer(
        model_name="toy",
        model_base_path=str(base),
        port=0,
        enable_rest=True,
        host="127.0.0.1",
        file_system_poll_wait_seconds=0.5,
    )
    with server:
        assert server.grpc_port > 0 and server.rest_port > 0
        assert server.grpc_address == f"127.0.0.1:{server.grpc_port}"
        with grpc.insecure_channel(server.grpc_address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "toy"
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones([1, 3], np.float32)))
            y = tf.make_ndarray(stub.Predict(request, timeout=30).outputs["y"])
            np.testing.assert_allclose(y, [np.array(WEIGHTS) + 1])
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(
            f"http://127.0.0.1:{server.rest_port}/v1/models/toy", timeout=30
        ) as response:
            assert json.loads(response.read())["model_version_status"][0]["state"] == "AVAILABLE"


@pytest.fixture(scope="module")
def server(base):
    srv = ServerProcess("--model_name=toy", f"--model_base_path={base}")
    yield srv
    assert srv.terminate() == 0, srv.output()


def test_client_cli_predict(server):
    result = run_python(
        "-m",
        "serving.client",
        f"--server={server.address}",
        "--model_name=toy",
        "--input=x=[[1, 2, 3]]",
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model_spec"] == {
        "name": "toy",
        "version": 1,
        "signature_name": "serving_default",
    }
    np.testing.assert_allclose(answer["outputs"]["y"], [[2.0, 5.0, 10.0]])


def test_client_cli_second_signature_and_metadata(server):
    result = run_python(
        "-m",
        "serving.client",
        f"--server={server.address}",
        "--model_name=toy",
        "--signature_name=second",
        "--input=a=[1, 2]",
        '--input=s=["ab", "c"]',
        "--output_filter=a2,n",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"] == {"a2": [2, 4], "n": [2, 1]}
    result = run_python(
        "-m", "serving.client", f"--server={server.address}", "--model_name=toy", "--metadata"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["serving_default"]["inputs"]["x"]["dtype"] == "DT_FLOAT"


def test_client_cli_reports_errors(server):
    result = run_python(
        "-m",
        "serving.client",
        f"--server={server.address}",
        "--model_name=nope",
        "--input=x=[[1, 2, 3]]",
    )
    assert result.returncode == 1
    assert "NOT_FOUND" in result.stderr and "Latest(nope)" in result.stderr
