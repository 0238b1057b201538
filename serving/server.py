"""The model server: a ModelManager behind gRPC (and optionally REST) endpoints.

Programmatic use::

    from serving.server import ModelServer

    server = ModelServer(model_name="toy", model_base_path="/models/toy",
                         port=0, rest_api_port=0).start()
    print(server.grpc_port, server.rest_port)   # the bound ports
    ...
    server.stop()

``python -m serving`` wraps the same class with tensorflow_model_server's flags.
"""

import concurrent.futures

import grpc
from absl import logging

from serving.grpc_service import add_servicers
from serving.model_manager import ModelManager, load_model_configs
from serving.rest import RestServer
from serving.tensor_codec import DEFAULT_MAX_TENSOR_ELEMENTS

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
DEFAULT_GRACE_SECONDS = 10.0


def _host_port(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ModelServer:
    """A TF Serving compatible server for SavedModels under base paths.

    Args:
      model_configs: list of :class:`serving.model_manager.ModelConfig`; or
        give ``model_name`` + ``model_base_path``, or ``model_config_file``.
      model_name: name of the single served model (default "default").
      model_base_path: directory holding ``<version>/saved_model.pb``.
      model_config_file: text-format ``tensorflow.serving.ModelServerConfig``.
      port: gRPC port; 0 picks a free port (read :attr:`grpc_port`).
      rest_api_port: REST port; 0 (the default) means no REST, as in TF Serving.
      enable_rest: force REST on or off; with ``enable_rest=True`` a
        ``rest_api_port`` of 0 picks a free port (read :attr:`rest_port`).
      host: address to bind both servers to (default loopback; the CLI
        defaults to 0.0.0.0 as tensorflow_model_server does).
      file_system_poll_wait_seconds: seconds between polls for new versions.
      grpc_max_threads: size of the gRPC thread pool.
      max_request_bytes: largest gRPC message / REST body accepted;
        bigger requests get RESOURCE_EXHAUSTED (HTTP 413).
      max_tensor_elements: largest input tensor accepted, in elements,
        checked before it is decoded; bigger ones get RESOURCE_EXHAUSTED.
      batching_options: a :class:`serving.batching.BatchingOptions` to merge
        concurrent Predict requests of one signature into one call
        (``--enable_batching``); None (the default) runs each on its own.
    """

    def __init__(
        self,
        model_configs=None,
        *,
        model_name="",
        model_base_path="",
        model_config_file="",
        port=8500,
        rest_api_port=0,
        enable_rest=None,
        host="127.0.0.1",
        file_system_poll_wait_seconds=1.0,
        grpc_max_threads=16,
        max_request_bytes=DEFAULT_MAX_REQUEST_BYTES,
        max_tensor_elements=DEFAULT_MAX_TENSOR_ELEMENTS,
        batching_options=None,
    ):
        if model_configs is None:
            model_configs = load_model_configs(model_name, model_base_path, model_config_file)
        self.model_configs = list(model_configs)
        self.host = host
        self._port = int(port)
        self._rest_port = int(rest_api_port or 0)
        self._enable_rest = (self._rest_port != 0) if enable_rest is None else bool(enable_rest)
        self._max_threads = int(grpc_max_threads)
        self._max_request_bytes = int(max_request_bytes)
        self._max_tensor_elements = int(max_tensor_elements)
        self.manager = ModelManager(
            self.model_configs, file_system_poll_wait_seconds, batching_options
        )
        self._grpc = None
        self._rest = None
        self.grpc_port = None
        self.rest_port = None

    @property
    def grpc_address(self):
        """``host:port`` of the gRPC endpoint (after :meth:`start`)."""
        return _host_port(self.host, self.grpc_port)

    @property
    def rest_address(self):
        """``host:port`` of the REST endpoint, or None when REST is off."""
        return None if self.rest_port is None else _host_port(self.host, self.rest_port)

    def start(self):
        """Loads the models on disk, then opens the ports. Returns ``self``.

        Raises:
          RuntimeError: a port cannot be bound.
        """
        self.manager.start()
        try:
            self._start_grpc()
            if self._enable_rest:
                self._rest = RestServer(
                    self.manager,
                    self.host,
                    self._rest_port,
                    self._max_request_bytes,
                    self._max_tensor_elements,
                )
                self._rest.start()
                self.rest_port = self._rest.port
        except Exception:
            self.stop(grace=0)
            raise
        logging.info("Running gRPC ModelServer at %s ...", self.grpc_address)
        if self.rest_port is not None:
            logging.info("Exporting HTTP/REST API at:%s ...", self.rest_address)
        return self

    def _start_grpc(self):
        options = [
            ("grpc.max_receive_message_length", self._max_request_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
        ]
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._max_threads, thread_name_prefix="grpc-worker"
        )
        self._grpc = grpc.server(pool, options=options)
        add_servicers(self._grpc, self.manager, self._max_tensor_elements)
        try:
            bound = self._grpc.add_insecure_port(_host_port(self.host, self._port))
        except RuntimeError as e:
            raise RuntimeError(
                f"cannot bind gRPC port {_host_port(self.host, self._port)}: {e}"
            ) from None
        if not bound:
            raise RuntimeError(f"cannot bind gRPC port {_host_port(self.host, self._port)}")
        self.grpc_port = bound
        self._grpc.start()

    def stop(self, grace=DEFAULT_GRACE_SECONDS):
        """Stops accepting requests, lets in-flight ones finish (up to ``grace`` s), unloads."""
        if self._rest is not None:
            self._rest.stop(grace)
            self._rest = None
        if self._grpc is not None:
            self._grpc.stop(grace).wait()
            self._grpc = None
        self.manager.stop(timeout=grace)

    def wait_for_termination(self, timeout=None):
        """Blocks until the gRPC server stops (or ``timeout``); True if it stopped."""
        return self._grpc.wait_for_termination(timeout) if self._grpc else True

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
