"""Unit tests of the JSON / TensorProto codecs and the model config parser."""

import numpy as np
import pytest
import tensorflow as tf

from serving import tensor_codec as codec
from serving.errors import ServingError
from serving.model_manager import load_model_configs, parse_model_config_text

F32, I64, STR = tf.float32.as_datatype_enum, tf.int64.as_datatype_enum, tf.string.as_datatype_enum


def test_tensor_proto_round_trip():
    for array in (
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([b"a", b"bc"], object),
        np.array([True, False]),
        np.int64(7),
    ):
        back = codec.tensor_proto_to_ndarray(codec.ndarray_to_tensor_proto(array))
        np.testing.assert_array_equal(back, array)


def test_malformed_tensor_proto_is_invalid_argument():
    proto = tf.make_tensor_proto(np.zeros([2, 2], np.float32))
    proto.tensor_content = proto.tensor_content[:5]
    with pytest.raises(ServingError) as info:
        codec.tensor_proto_to_ndarray(proto, "x")
    assert info.value.code.name == "INVALID_ARGUMENT" and "x" in info.value.message


def test_json_to_ndarray_casts_to_signature_dtype():
    array = codec.json_to_ndarray([[1, 2], [3, 4]], F32, "x")
    assert array.dtype == np.float32 and array.shape == (2, 2)
    strings = codec.json_to_ndarray(["ab", {"b64": "eHk="}], STR, "s")
    assert strings.tolist() == [b"ab", b"xy"]


@pytest.mark.parametrize(
    "value,dtype",
    [([[1, 2], [3]], F32), (["a"], F32), ([1.5], I64), ([1], STR), ([{"b64": "!!"}], STR)],
)
def test_json_to_ndarray_rejects_bad_values(value, dtype):
    with pytest.raises(ServingError) as info:
        codec.json_to_ndarray(value, dtype, "k")
    assert info.value.http_status == 400 and '"k"' in info.value.message


def test_row_and_columnar_inputs():
    dtypes = {"a": I64, "s": STR}
    inputs = codec.instances_to_inputs([{"a": 1, "s": "x"}, {"a": 2, "s": "y"}], dtypes)
    assert inputs["a"].tolist() == [1, 2] and inputs["s"].tolist() == [b"x", b"y"]
    single = codec.instances_to_inputs([[1, 2, 3]], {"x": F32})
    assert single["x"].shape == (1, 3)
    assert codec.columnar_to_inputs([[1, 2, 3]], {"x": F32})["x"].shape == (1, 3)
    with pytest.raises(ServingError):
        codec.instances_to_inputs([1, 2], dtypes)  # unnamed rows, two inputs
    with pytest.raises(ServingError):
        codec.instances_to_inputs([{"a": 1, "s": "x"}, {"a": 2}], dtypes)


def test_outputs_to_json():
    outputs = {
        "y": np.array([[1.0], [2.0]], np.float32),
        "out_bytes": np.array([b"\x00", b"z"], object),
        "name": np.array([b"p", b"q"], object),
    }
    rows = codec.outputs_to_predictions(outputs)
    assert rows[0] == {"y": [1.0], "out_bytes": {"b64": "AA=="}, "name": "p"}
    assert codec.outputs_to_columnar({"y": outputs["y"]}) == [[1.0], [2.0]]
    with pytest.raises(ServingError):
        codec.outputs_to_predictions({"a": np.zeros([2]), "b": np.zeros([3])})


def test_model_config_parsing(tmp_path):
    models = parse_model_config_text("""
        model_config_list {
          config { name: "a" base_path: "/models/a" model_platform: "tensorflow" }
          config { name: "b" base_path: "/models/b" version_labels { key: "stable" value: 3 } }
        }""")
    assert [(m.name, m.base_path) for m in models] == [("a", "/models/a"), ("b", "/models/b")]
    assert models[1].label_to_version("stable") == 3
    for bad in (
        "nonsense {",
        'model_config_list { config { name: "a" } }',
        'model_config_list { config { name: "a" base_path: "/x" model_platform: "pytorch" } }',
    ):
        with pytest.raises(ValueError):
            parse_model_config_text(bad)
    assert load_model_configs("m", str(tmp_path))[0].name == "m"
    with pytest.raises(ValueError):
        load_model_configs()
