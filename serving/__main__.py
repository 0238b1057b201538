"""``python -m serving`` / ``tfgen-serve``: tensorflow_model_server's command line.

Example::

    python -m serving --port=8500 --rest_api_port=8501 \\
        --model_name=pixelcnn --model_base_path=/models/pixelcnn

On start-up it prints, once the ports are bound (``--port=0`` and
``--rest_api_port=0 --enable_rest`` pick free ports)::

    Running gRPC ModelServer at HOST:PORT ...
    Exporting HTTP/REST API at:HOST:PORT ...

SIGTERM or SIGINT stops accepting requests, lets in-flight ones finish (up to
``--shutdown_grace_seconds``) and exits 0.
"""

import signal
import sys
import threading

from absl import app, flags, logging

FLAGS = flags.FLAGS

# tensorflow_model_server's own flags.
flags.DEFINE_integer("port", 8500, "Port to listen on for the gRPC API (0 picks a free port).")
flags.DEFINE_integer(
    "rest_api_port", 0, "Port to listen on for the HTTP/REST API; 0 means no REST API."
)
flags.DEFINE_string("model_name", "default", "Name of the model (with --model_base_path).")
flags.DEFINE_string(
    "model_base_path", "", "Directory holding the model's <version>/ SavedModel directories."
)
flags.DEFINE_string(
    "model_config_file",
    "",
    "Text-format tensorflow.serving.ModelServerConfig listing several models "
    "(instead of --model_name/--model_base_path).",
)
flags.DEFINE_float(
    "file_system_poll_wait_seconds",
    1.0,
    "Seconds between polls of the base paths for new versions; 0 polls once at start-up.",
)
flags.DEFINE_integer("grpc_max_threads", 16, "Threads serving gRPC requests.")
flags.DEFINE_boolean(
    "enable_batching", False, "Merge concurrent Predict requests of one signature into one call."
)
flags.DEFINE_string(
    "batching_parameters_file",
    "",
    "Text-format tensorflow.serving.BatchingParameters for --enable_batching "
    "(empty: TF Serving's defaults).",
)
# Extensions.
flags.DEFINE_string(
    "host", "0.0.0.0", "Address to bind (tensorflow_model_server always binds 0.0.0.0)."
)
flags.DEFINE_boolean(
    "enable_rest", False, "Serve REST even when --rest_api_port=0 (then a free port is picked)."
)
flags.DEFINE_integer(
    "max_request_bytes",
    64 * 1024 * 1024,
    "Largest accepted gRPC message / REST body; larger requests get RESOURCE_EXHAUSTED.",
)
flags.DEFINE_integer(
    "max_tensor_elements",
    1 << 22,
    "Largest accepted input tensor, in elements, checked before it is decoded; larger ones "
    "get RESOURCE_EXHAUSTED.",
)
flags.DEFINE_float(
    "shutdown_grace_seconds", 10.0, "Seconds in-flight requests get to finish on shutdown."
)


def _install_signal_handlers(stop_event):
    def handler(signum, frame):
        logging.info("received signal %d; shutting down", signum)
        stop_event.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _batching_options():
    """The BatchingOptions of --enable_batching / --batching_parameters_file, or None."""
    from serving.batching import load_batching_options  # pylint: disable=import-outside-toplevel

    if not FLAGS.enable_batching:
        if FLAGS.batching_parameters_file:
            raise ValueError("--batching_parameters_file is set without --enable_batching")
        return None
    return load_batching_options(FLAGS.batching_parameters_file)


def main(argv):
    """Starts the server, waits for SIGTERM/SIGINT, stops it. Returns the exit code."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    stop_event = threading.Event()
    _install_signal_handlers(stop_event)  # before the slow TensorFlow import
    from serving.server import ModelServer  # pylint: disable=import-outside-toplevel

    try:
        server = ModelServer(
            model_name=FLAGS.model_name,
            model_base_path=FLAGS.model_base_path,
            model_config_file=FLAGS.model_config_file,
            port=FLAGS.port,
            rest_api_port=FLAGS.rest_api_port,
            enable_rest=FLAGS.enable_rest or FLAGS.rest_api_port != 0,
            host=FLAGS.host,
            file_system_poll_wait_seconds=FLAGS.file_system_poll_wait_seconds,
            grpc_max_threads=FLAGS.grpc_max_threads,
            max_request_bytes=FLAGS.max_request_bytes,
            max_tensor_elements=FLAGS.max_tensor_elements,
            batching_options=_batching_options(),
        )
        server.start()
    except (ValueError, OSError, RuntimeError) as e:
        print(f"tfgen-serve: error: {e}", file=sys.stderr, flush=True)
        return 1
    print(f"Running gRPC ModelServer at {server.grpc_address} ...", flush=True)
    if server.rest_address:
        print(f"Exporting HTTP/REST API at:{server.rest_address} ...", flush=True)
    while not stop_event.wait(0.5):
        pass
    server.stop(grace=FLAGS.shutdown_grace_seconds)
    print("Server stopped.", flush=True)
    return 0


def run():
    """Console entry point (``tfgen-serve``)."""
    app.run(main)


if __name__ == "__main__":
    run()
