"""TF Serving's HTTP/REST API on the standard library's ThreadingHTTPServer.

Routes (as in TF Serving):

* ``GET  /v1/models/NAME[/versions/N | /labels/L]`` -> model status JSON
* ``GET  /v1/models/NAME[/versions/N | /labels/L]/metadata`` -> signature defs
* ``POST /v1/models/NAME[/versions/N | /labels/L]:predict`` with
  ``{"signature_name": ..., "instances": [...]}`` (row format, answers
  ``{"predictions": ...}``) or ``{"inputs": ...}`` (columnar, answers
  ``{"outputs": ...}``).

Errors are ``{"error": "..."}`` with TF Serving's HTTP status for the code.
"""

import http
import http.server
import json
import re
import threading
import urllib.parse

import grpc
from absl import logging
from google.protobuf import json_format

from serving.errors import ServingError, invalid_argument
from serving.tensor_codec import (
    DEFAULT_MAX_TENSOR_ELEMENTS,
    check_num_elements,
    columnar_to_inputs,
    instances_to_inputs,
    outputs_to_columnar,
    outputs_to_predictions,
)

_ROUTE = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?"
    r"(?::(?P<verb>[a-z]+)|/(?P<metadata>metadata))?$"
)


def _message_to_dict(message):
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, including_default_value_fields=True
    )


class RestApi:
    """The REST request logic, independent of the HTTP server plumbing.

    Args:
      manager: the ModelManager.
      max_body_bytes: largest accepted request body.
      max_tensor_elements: largest accepted input tensor, in elements.
    """

    def __init__(self, manager, max_body_bytes, max_tensor_elements=DEFAULT_MAX_TENSOR_ELEMENTS):
        self.manager = manager
        self.max_body_bytes = max_body_bytes
        self.max_tensor_elements = max_tensor_elements

    def handle(self, method, path, body_reader):
        """Handles one request; returns (HTTP status, JSON-able dict). Never raises."""
        try:
            return http.HTTPStatus.OK, self._dispatch(method, path, body_reader)
        except ServingError as e:
            return e.http_status, {"error": e.message}
        except RecursionError:  # json and the value converters recurse on nesting
            error = invalid_argument("JSON Parse error: the body is nested too deeply")
            return error.http_status, {"error": error.message}
        except Exception as e:  # a bug or unexpected failure: report it, stay up
            logging.exception("unexpected error handling %s %s", method, path)
            return http.HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(e).__name__}: {e}"}

    def _dispatch(self, method, path, body_reader):
        route = _ROUTE.match(urllib.parse.urlsplit(path).path)
        if route is None:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Malformed request: {method} {path}")
        name = urllib.parse.unquote(route["name"])
        version = int(route["version"]) if route["version"] else None
        label = urllib.parse.unquote(route["label"]) if route["label"] else None
        verb = route["verb"]
        if method == "GET" and verb is None:
            if route["metadata"]:
                return self._metadata(name, version, label)
            return self._status(name, version, label)
        if method == "POST" and verb == "predict":
            return self._predict(name, version, label, self._read_json(body_reader))
        if method == "POST" and verb in ("classify", "regress"):
            raise ServingError(
                grpc.StatusCode.UNIMPLEMENTED,
                f"{verb} is not implemented by this server; use :predict.",
            )
        raise ServingError(grpc.StatusCode.NOT_FOUND, f"Malformed request: {method} {path}")

    def _read_json(self, body_reader):
        body = body_reader(self.max_body_bytes)
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise invalid_argument(f"JSON Parse error: {e}") from None
        if not isinstance(document, dict):
            raise invalid_argument("JSON Value is not an object")
        return document

    def _status(self, name, version, label):
        if label is not None:
            version = self.manager.get(name, None, label).version
        return _message_to_dict(self.manager.model_status(name, version))

    def _metadata(self, name, version, label):
        servable = self.manager.get(name, version, label)
        return {
            "model_spec": {
                "name": servable.name,
                "signature_name": "",
                "version": str(servable.version),
            },
            "metadata": {"signature_def": _message_to_dict(servable.signature_def_map())},
        }

    def _predict(self, name, version, label, document):
        servable = self.manager.get(name, version, label)
        signature_name = document.get("signature_name", "")
        if not isinstance(signature_name, str):
            raise invalid_argument('"signature_name" must be a string')
        input_dtypes = servable.input_dtypes(signature_name)
        has_rows, has_columns = "instances" in document, "inputs" in document
        if has_rows == has_columns:
            raise invalid_argument(
                'Request must have exactly one of "instances" (row format) '
                'or "inputs" (columnar format)'
            )
        if has_rows:
            inputs = instances_to_inputs(document["instances"], input_dtypes)
        else:
            inputs = columnar_to_inputs(document["inputs"], input_dtypes)
        for key, array in inputs.items():
            check_num_elements(key, array.shape, self.max_tensor_elements)
        _, outputs = servable.predict(signature_name, inputs)
        if has_rows:
            return {"predictions": outputs_to_predictions(outputs)}
        return {"outputs": outputs_to_columnar(outputs)}


class _Handler(http.server.BaseHTTPRequestHandler):
    """Thin HTTP adapter around :class:`RestApi` (HTTP/1.0: one request per connection)."""

    server_version = "tfgen-serving"
    timeout = 60  # seconds a client may take to send its request

    def do_GET(self):  # noqa: N802 (http.server naming)
        self._respond("GET")

    def do_POST(self):  # noqa: N802
        self._respond("POST")

    def _read_body(self, limit):
        length = self.headers.get("Content-Length")
        if length is None:
            raise invalid_argument("POST requires a Content-Length header")
        try:
            length = int(length)
        except ValueError:
            raise invalid_argument("invalid Content-Length header") from None
        if length < 0:
            raise invalid_argument("invalid Content-Length header")
        if length > limit:
            self.close_connection = True
            raise ServingError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Request body of {length} bytes exceeds the limit of {limit} bytes",
                http_status=http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        return self.rfile.read(length)

    def _respond(self, method):
        tracker = self.server.tracker
        with tracker:
            status, document = self.server.api.handle(method, self.path, self._read_body)
            body = json.dumps(document).encode("utf-8")
            self.send_response(int(status))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, fmt, *args):  # route access logs through absl at verbose level
        logging.vlog(1, "REST %s - %s", self.address_string(), fmt % args)


class _InFlight:
    """Counts requests in progress so shutdown can wait for them."""

    def __init__(self):
        self._count = 0
        self._cond = threading.Condition()

    def __enter__(self):
        with self._cond:
            self._count += 1

    def __exit__(self, *exc):
        with self._cond:
            self._count -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout):
        """Waits until no request is in progress, at most ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout)


class RestServer:
    """A ThreadingHTTPServer serving :class:`RestApi` in a background thread.

    Args:
      manager: the ModelManager.
      host: address to bind.
      port: port to bind (0 picks a free one; see :attr:`port`).
      max_body_bytes: largest accepted request body.
      max_tensor_elements: largest accepted input tensor, in elements.
    """

    def __init__(self, manager, host, port, max_body_bytes, max_tensor_elements):
        self._httpd = http.server.ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.api = RestApi(manager, max_body_bytes, max_tensor_elements)
        self._httpd.tracker = _InFlight()
        self._thread = None

    @property
    def port(self):
        """The bound port."""
        return self._httpd.server_address[1]

    def start(self):
        """Starts serving in a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="rest-server",
            daemon=True,
        )
        self._thread.start()

    def stop(self, grace):
        """Stops accepting, waits up to ``grace`` seconds for in-flight requests, closes."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.tracker.wait_idle(grace)
        self._httpd.server_close()
