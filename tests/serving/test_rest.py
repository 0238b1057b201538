"""TF Serving's REST API (status, metadata, row and columnar predict, JSON errors)."""

import base64
import http.client
import json
import urllib.error
import urllib.request

import pytest

from tests.serving.conftest import WEIGHTS, ServerProcess, install_version

MAX_REQUEST_BYTES = 100_000
_OPENER = urllib.request.build_opener(
    urllib.request.ProxyHandler({})
)  # loopback: never via a proxy


@pytest.fixture(scope="module")
def server(tmp_path_factory, saved_models):
    base = tmp_path_factory.mktemp("rest") / "toy"
    base.mkdir()
    install_version(str(base), 1, saved_models[1])
    srv = ServerProcess(
        "--model_name=toy",
        f"--model_base_path={base}",
        f"--max_request_bytes={MAX_REQUEST_BYTES}",
        rest=True,
    )
    yield srv
    assert srv.terminate() == 0, srv.output()


def call(server, path, body=None, raw=None):
    """Returns (HTTP status, decoded JSON body)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(
        server.url(path), data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with _OPENER.open(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def expected_y(row, version=1):
    return [v * w + version for v, w in zip(row, WEIGHTS)]


def test_model_status(server):
    expected = {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert call(server, "/v1/models/toy") == (200, expected)
    assert call(server, "/v1/models/toy/versions/1") == (200, expected)


def test_metadata(server):
    status, body = call(server, "/v1/models/toy/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "toy", "signature_name": "", "version": "1"}
    sig = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in sig["inputs"]["x"]["tensor_shape"]["dim"]] == ["-1", "3"]
    assert call(server, "/v1/models/toy/versions/1/metadata")[0] == 200


def test_predict_row_format(server):
    status, body = call(server, "/v1/models/toy:predict", {"instances": [[1, 2, 3], [0, 0, 0.5]]})
    assert status == 200, body
    assert body == {"predictions": [expected_y([1, 2, 3]), expected_y([0, 0, 0.5])]}


def test_predict_row_format_named_inputs(server):
    body = {
        "signature_name": "second",
        "instances": [{"a": 1, "s": "ab"}, {"a": 4, "s": {"b64": "eHl6"}}],
    }
    status, result = call(server, "/v1/models/toy/versions/1:predict", body)
    assert status == 200, result
    assert result == {"predictions": [{"a2": 2, "n": 2, "v": 1.0}, {"a2": 8, "n": 3, "v": 1.0}]}


def test_predict_columnar_format(server):
    status, body = call(server, "/v1/models/toy:predict", {"inputs": {"x": [[1, 2, 3]]}})
    assert (status, body) == (200, {"outputs": [expected_y([1, 2, 3])]})
    status, body = call(server, "/v1/models/toy:predict", {"inputs": [[1, 2, 3]]})
    assert (status, body) == (200, {"outputs": [expected_y([1, 2, 3])]})
    b64 = base64.b64encode(b"abcd").decode()
    status, body = call(
        server,
        "/v1/models/toy:predict",
        {"signature_name": "second", "inputs": {"a": [3], "s": [{"b64": b64}]}},
    )
    assert (status, body) == (200, {"outputs": {"a2": [6], "n": [4], "v": [1.0]}})


BAD_REQUESTS = {
    "wrong_shape": ("/v1/models/toy:predict", {"instances": [[1, 2]]}, 400, ["x", "[-1,3]"]),
    "ragged": ("/v1/models/toy:predict", {"instances": [[1, 2, 3], [1]]}, 400, ["x"]),
    "strings_for_floats": (
        "/v1/models/toy:predict",
        {"instances": [["a", "b", "c"]]},
        400,
        ["DT_FLOAT"],
    ),
    "missing_input": (
        "/v1/models/toy:predict",
        {"signature_name": "second", "inputs": {"a": [1]}},
        400,
        ["Missing but required: {s}"],
    ),
    "extra_input": (
        "/v1/models/toy:predict",
        {"inputs": {"x": [[1, 2, 3]], "q": [1]}},
        400,
        ["Sent extra: {q}"],
    ),
    "unknown_signature": (
        "/v1/models/toy:predict",
        {"signature_name": "nope", "instances": [[1, 2, 3]]},
        400,
        ['Serving signature key "nope" not found.'],
    ),
    "both_formats": (
        "/v1/models/toy:predict",
        {"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]},
        400,
        ["instances", "inputs"],
    ),
    "neither_format": (
        "/v1/models/toy:predict",
        {"signature_name": "serving_default"},
        400,
        ["instances"],
    ),
    "runtime_failure": (
        "/v1/models/toy:predict",
        {"signature_name": "check", "instances": [-1.0]},
        400,
        ["x must be non-negative"],
    ),
    "unknown_model": (
        "/v1/models/nope:predict",
        {"instances": [[1, 2, 3]]},
        404,
        ["Servable not found for request: Latest(nope)"],
    ),
    "unknown_version": (
        "/v1/models/toy/versions/5:predict",
        {"instances": [[1, 2, 3]]},
        404,
        ["Servable not found for request: Specific(toy, 5)"],
    ),
    "unknown_model_status": (
        "/v1/models/nope",
        None,
        404,
        ["Could not find any versions of model nope"],
    ),
    "unknown_version_status": (
        "/v1/models/toy/versions/5",
        None,
        404,
        ["Could not find version 5 of model toy"],
    ),
    "unknown_model_metadata": ("/v1/models/nope/metadata", None, 404, ["Latest(nope)"]),
    "bad_path": ("/v2/whatever", None, 404, ["Malformed request"]),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_json_errors_and_server_stays_up(server, case):
    path, body, expected_status, fragments = BAD_REQUESTS[case]
    status, result = call(server, path, body)
    assert status == expected_status, result
    assert set(result) == {"error"}
    for fragment in fragments:
        assert fragment in result["error"]
    assert call(server, "/v1/models/toy:predict", {"instances": [[1, 2, 3]]})[0] == 200


def test_invalid_json_is_400(server):
    status, result = call(server, "/v1/models/toy:predict", raw=b"{not json")
    assert status == 400 and "JSON" in result["error"]


def test_oversized_body_is_rejected_before_it_is_read(server):
    # Announce a body bigger than the limit; the server answers from the headers alone.
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    try:
        connection.putrequest("POST", "/v1/models/toy:predict")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(MAX_REQUEST_BYTES + 1))
        connection.endheaders()
        response = connection.getresponse()
        status, result = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert status == 413 and "exceeds the limit" in result["error"]
    assert call(server, "/v1/models/toy")[0] == 200
