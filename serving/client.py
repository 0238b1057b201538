"""``python -m serving.client``: send one request to a TF Serving (compatible) server.

Uses the real ``tensorflow_serving.apis`` PredictionService stub, so it works
against this server and against ``tensorflow_model_server`` alike.

Examples::

    python -m serving.client --server=127.0.0.1:8500 --model_name=toy \\
        --input 'x=[[1, 2, 3]]'
    python -m serving.client --server=127.0.0.1:8500 --model_name=toy \\
        --signature_name=second --input 'a=[1, 2]' --input 's=["ab", "c"]'
    python -m serving.client --server=127.0.0.1:8500 --model_name=toy --metadata
    python -m serving.client --server=127.0.0.1:8500 --model_name=toy --status

Input values are JSON; they are converted to the dtypes the signature
declares (read with GetModelMetadata first). The result is printed as JSON.
"""

import json
import sys

import grpc
import tensorflow as tf
from absl import app, flags
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.tensor_codec import ndarray_to_json

FLAGS = flags.FLAGS


def parse_inputs(specs):
    """Parses ``["key=json", ...]`` into ``{key: python value}``.

    Raises:
      ValueError: for a spec without "=" or with invalid JSON.
    """
    inputs = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        if not sep or not key:
            raise ValueError(f"--input must look like KEY=JSON_VALUE, got {spec!r}")
        try:
            inputs[key] = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"--input {key}: invalid JSON {text!r}: {e}") from None
    return inputs


class Client:
    """A small convenience wrapper around the TF Serving stubs.

    Args:
      server: ``host:port`` of the gRPC endpoint.
      timeout: per-RPC deadline in seconds.
    """

    def __init__(self, server, timeout=60.0):
        self._channel = grpc.insecure_channel(server)
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self.model = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self.timeout = timeout

    def close(self):
        """Closes the channel."""
        self._channel.close()

    @staticmethod
    def _spec(spec, model_name, version):
        spec.name = model_name
        if version is not None:
            spec.version.value = version

    def signature_defs(self, model_name, version=None):
        """Returns ``{key: SignatureDef}`` from GetModelMetadata."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, model_name, version)
        response = self.prediction.GetModelMetadata(request, timeout=self.timeout)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        return dict(sig_map.signature_def)

    def status(self, model_name, version=None):
        """Returns the GetModelStatusResponse."""
        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model_name, version)
        return self.model.GetModelStatus(request, timeout=self.timeout)

    def predict(
        self, model_name, inputs, signature_name="serving_default", version=None, output_filter=()
    ):
        """Runs Predict; ``inputs`` values are nested lists / numpy arrays.

        Values are cast to the dtypes the signature declares. Returns
        ``(model_spec proto, {output key: numpy array})``.
        """
        sig = self.signature_defs(model_name, version).get(signature_name)
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, model_name, version)
        request.model_spec.signature_name = signature_name
        for key, value in inputs.items():
            dtype = tf.dtypes.as_dtype(sig.inputs[key].dtype) if sig and key in sig.inputs else None
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
        request.output_filter.extend(output_filter)
        response = self.prediction.Predict(request, timeout=self.timeout)
        return response.model_spec, {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


def main(argv):
    """Sends one request and prints the answer as JSON; returns the exit code."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        inputs = parse_inputs(FLAGS.input)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    client = Client(FLAGS.server, FLAGS.timeout)
    try:
        if FLAGS.status:
            result = json_format.MessageToDict(
                client.status(FLAGS.model_name, FLAGS.model_version),
                preserving_proto_field_name=True,
                including_default_value_fields=True,
            )
        elif FLAGS.metadata:
            sigs = client.signature_defs(FLAGS.model_name, FLAGS.model_version)
            result = {
                k: json_format.MessageToDict(v, preserving_proto_field_name=True)
                for k, v in sigs.items()
            }
        else:
            spec, outputs = client.predict(
                FLAGS.model_name,
                inputs,
                FLAGS.signature_name,
                FLAGS.model_version,
                FLAGS.output_filter,
            )
            result = {
                "model_spec": {
                    "name": spec.name,
                    "version": spec.version.value,
                    "signature_name": spec.signature_name,
                },
                "outputs": {k: ndarray_to_json(v, k) for k, v in outputs.items()},
            }
    except grpc.RpcError as e:
        print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(json.dumps(result, indent=2))
    return 0


def _define_flags():
    """The CLI's flags; defined only when the CLI runs, so importing `Client` adds none."""
    flags.DEFINE_string("server", "127.0.0.1:8500", "host:port of the gRPC server.")
    flags.DEFINE_string("model_name", None, "Model to query.")
    flags.DEFINE_integer("model_version", None, "Specific version (default: the latest).")
    flags.DEFINE_string("signature_name", "serving_default", "Signature to run.")
    flags.DEFINE_multi_string(
        "input", [], "KEY=JSON_VALUE, repeatable: one input tensor of the signature."
    )
    flags.DEFINE_list("output_filter", [], "Comma-separated outputs to return (default: all).")
    flags.DEFINE_boolean(
        "metadata", False, "Print the model's signature defs instead of predicting."
    )
    flags.DEFINE_boolean("status", False, "Print the model's version status instead of predicting.")
    flags.DEFINE_float("timeout", 60.0, "RPC deadline in seconds.")
    flags.mark_flag_as_required("model_name")


def run():
    """Console-style entry point."""
    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
