"""A TensorFlow Serving compatible model server (gRPC + REST) and client.

``python -m serving --port=8500 --model_name=NAME --model_base_path=BASE``
serves ``BASE/<version>/`` SavedModels over TF Serving's
``PredictionService`` / ``ModelService`` gRPC API (and REST with
``--rest_api_port``); ``python -m serving.client`` sends one request.
Programmatic use: :class:`serving.server.ModelServer`.
"""

__all__ = ["ModelServer"]


def __getattr__(name):
    # Lazy, so `import serving` (e.g. for the client) does not load the server.
    if name == "ModelServer":
        from serving.server import ModelServer

        return ModelServer
    raise AttributeError(f"module 'serving' has no attribute {name!r}")
