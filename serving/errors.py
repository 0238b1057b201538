"""One error type for the whole server, carrying a gRPC status code.

The model manager, the predictor and the codecs raise :class:`ServingError`;
the gRPC layer turns it into ``context.abort(code, message)`` and the REST
layer into ``{"error": message}`` with the HTTP status TF Serving uses for
that code.
"""

import http

import grpc

# TF Serving's own mapping (http_rest_api_handler / ToHTTPStatusCode).
_HTTP_STATUS = {
    grpc.StatusCode.OK: http.HTTPStatus.OK,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: http.HTTPStatus.INTERNAL_SERVER_ERROR,
    grpc.StatusCode.INVALID_ARGUMENT: http.HTTPStatus.BAD_REQUEST,
    grpc.StatusCode.DEADLINE_EXCEEDED: http.HTTPStatus.GATEWAY_TIMEOUT,
    grpc.StatusCode.NOT_FOUND: http.HTTPStatus.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: http.HTTPStatus.CONFLICT,
    grpc.StatusCode.PERMISSION_DENIED: http.HTTPStatus.FORBIDDEN,
    grpc.StatusCode.RESOURCE_EXHAUSTED: http.HTTPStatus.TOO_MANY_REQUESTS,
    grpc.StatusCode.FAILED_PRECONDITION: http.HTTPStatus.BAD_REQUEST,
    grpc.StatusCode.ABORTED: http.HTTPStatus.CONFLICT,
    grpc.StatusCode.OUT_OF_RANGE: http.HTTPStatus.BAD_REQUEST,
    grpc.StatusCode.UNIMPLEMENTED: http.HTTPStatus.NOT_IMPLEMENTED,
    grpc.StatusCode.INTERNAL: http.HTTPStatus.INTERNAL_SERVER_ERROR,
    grpc.StatusCode.UNAVAILABLE: http.HTTPStatus.SERVICE_UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS: http.HTTPStatus.INTERNAL_SERVER_ERROR,
    grpc.StatusCode.UNAUTHENTICATED: http.HTTPStatus.UNAUTHORIZED,
}

# TensorFlow's error codes (tensorflow.error.Code) share gRPC's numbering.
_GRPC_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request failed with a TF Serving status code and message.

    Args:
      code: a ``grpc.StatusCode``.
      message: the human-readable message sent to the client.
      http_status: overrides the HTTP status derived from ``code`` (REST only).
    """

    def __init__(self, code, message, http_status=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self._http_status = http_status

    @property
    def http_status(self):
        """The HTTP status TF Serving's REST API uses for this code."""
        if self._http_status is not None:
            return int(self._http_status)
        return int(_HTTP_STATUS.get(self.code, http.HTTPStatus.INTERNAL_SERVER_ERROR))

    def __repr__(self):
        return f"ServingError({self.code.name}, {self.message!r})"


def invalid_argument(message):
    """Returns an INVALID_ARGUMENT :class:`ServingError`."""
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message):
    """Returns a NOT_FOUND :class:`ServingError`."""
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def grpc_code_from_tf(tf_code):
    """Maps a TensorFlow error code number to the matching ``grpc.StatusCode``."""
    return _GRPC_BY_NUMBER.get(int(tf_code), grpc.StatusCode.UNKNOWN)
