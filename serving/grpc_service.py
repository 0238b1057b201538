"""gRPC servicers: ``tensorflow.serving.PredictionService`` and ``ModelService``.

Both subclass the generated servicers from ``tensorflow_serving.apis``, so the
wire protocol is TF Serving's own; every failure is reported with
``context.abort(code, message)`` using TF Serving's codes and messages.
"""

import functools

import grpc
from absl import logging
from google.protobuf import any_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.errors import ServingError, invalid_argument
from serving.model_manager import require_model_spec, resolve
from serving.tensor_codec import (
    DEFAULT_MAX_TENSOR_ELEMENTS,
    ndarray_to_tensor_proto,
    tensor_proto_to_ndarray,
)

SIGNATURE_DEF_FIELD = "signature_def"


def _aborting(method):
    """Decorates a servicer method: ServingError -> context.abort; anything else -> INTERNAL."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except ServingError as e:
            error = e
        except Exception as e:  # a bug or an unexpected TF failure: report it, stay up
            logging.exception("unexpected error in %s", method.__name__)
            error = ServingError(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")
        context.abort(error.code, error.message)

    return wrapper


def _unimplemented(name):
    def method(self, request, context):
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{name} is not implemented by this server; use Predict with the model's signature.",
        )

    method.__name__ = name
    method.__doc__ = f"{name}: answers UNIMPLEMENTED."
    return method


def _fill_model_spec(spec, servable, signature_name=None):
    spec.name = servable.name
    spec.version.value = servable.version
    if signature_name is not None:
        spec.signature_name = signature_name


def _check_still_wanted(context):
    """Refuses to start work for a client that has gone or whose deadline has passed."""
    if not context.is_active():
        raise ServingError(grpc.StatusCode.CANCELLED, "The client cancelled the request")
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``tensorflow.serving.PredictionService`` backed by a ModelManager.

    Args:
      manager: the ModelManager.
      max_tensor_elements: largest accepted input tensor, in elements.
    """

    def __init__(self, manager, max_tensor_elements=DEFAULT_MAX_TENSOR_ELEMENTS):
        self._manager = manager
        self._max_tensor_elements = max_tensor_elements

    @_aborting
    def Predict(self, request, context):
        """Runs a signature on the request's input TensorProtos."""
        spec = require_model_spec(request)
        servable = resolve(self._manager, spec)
        inputs = {
            k: tensor_proto_to_ndarray(v, k, self._max_tensor_elements)
            for k, v in request.inputs.items()
        }
        _check_still_wanted(context)
        dtypes = {k: v.dtype for k, v in request.inputs.items()}
        key, outputs = servable.predict(
            spec.signature_name, inputs, dtypes, list(request.output_filter)
        )
        response = predict_pb2.PredictResponse()
        _fill_model_spec(response.model_spec, servable, key)
        for name, array in outputs.items():
            response.outputs[name].CopyFrom(ndarray_to_tensor_proto(array))
        return response

    @_aborting
    def GetModelMetadata(self, request, context):
        """Returns the model's SignatureDefMap, packed in an Any under "signature_def"."""
        spec = require_model_spec(request)
        if not request.metadata_field:
            raise invalid_argument(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid_argument(f"Metadata field {field} is not supported")
        servable = resolve(self._manager, spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _fill_model_spec(response.model_spec, servable)
        packed = any_pb2.Any()
        packed.Pack(servable.signature_def_map())
        response.metadata[SIGNATURE_DEF_FIELD].CopyFrom(packed)
        return response

    Classify = _unimplemented("Classify")
    Regress = _unimplemented("Regress")
    MultiInference = _unimplemented("MultiInference")


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """``tensorflow.serving.ModelService``: version status of served models."""

    def __init__(self, manager):
        self._manager = manager

    @_aborting
    def GetModelStatus(self, request, context):
        """Lists the model's versions with their state (AVAILABLE, LOADING, END)."""
        spec = require_model_spec(request)
        version = spec.version.value if spec.WhichOneof("version_choice") == "version" else None
        return self._manager.model_status(spec.name, version)

    HandleReloadConfigRequest = _unimplemented("HandleReloadConfigRequest")


def add_servicers(server, manager, max_tensor_elements=DEFAULT_MAX_TENSOR_ELEMENTS):
    """Registers both servicers on a ``grpc.Server``."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(manager, max_tensor_elements), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager), server)
