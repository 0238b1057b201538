"""The code index of ACN (1804.02476 Sec. 3): KNN(x) against NumPy brute force, updates, keys."""

import numpy as np
import pytest
import tensorflow as tf

from tests.test_case import run_layer_test
from tfgen import data
from tfgen.layers import CodeIndex, image_fingerprint


def _filled_index(codes, keys, num_neighbours):
    index = CodeIndex(
        capacity=len(codes) + 3, code_dim=codes.shape[1], num_neighbours=num_neighbours
    )
    index.update(tf.constant(codes), tf.constant(keys))
    return index


def _brute_force(queries, query_keys, codes, keys, k):
    """Rows and squared distances of the k nearest codes, rows with the query's key left out."""
    rows, distances = [], []
    for query, key in zip(queries, query_keys):
        d = np.sum((codes - query) ** 2, axis=1)
        d[keys == key] = np.inf
        order = np.argsort(d, kind="stable")[:k]
        rows.append(np.where(np.isfinite(d[order]), order, -1))
        distances.append(d[order])
    return np.array(rows), np.array(distances)


def test_layer_test_case():
    queries = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    run_layer_test(
        CodeIndex,
        {"capacity": 6, "code_dim": 3, "num_neighbours": 2},
        queries,
        expected_output_shape=((4, 2, 3), (4, 2)),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=3,
        call_kwargs={"keys": np.arange(4, dtype=np.int64)},
        run_training_check=False,
    )  # no trainable weights: the codes are written


def test_knn_matches_numpy_brute_force_and_excludes_the_query_itself():
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(40, 5)).astype(np.float32)
    keys = rng.permutation(1000)[:40].astype(np.int64)
    index = _filled_index(codes, keys, num_neighbours=4)
    # Ten stored examples (their own row must not come back) and ten unseen ones.
    queries = np.concatenate([codes[:10] + 0.01, rng.normal(size=(10, 5))]).astype(np.float32)
    query_keys = np.concatenate([keys[:10], 2000 + np.arange(10)]).astype(np.int64)
    rows, distances = index.search(tf.constant(queries), tf.constant(query_keys))
    expected_rows, expected_distances = _brute_force(queries, query_keys, codes, keys, 4)
    np.testing.assert_array_equal(rows.numpy(), expected_rows)
    np.testing.assert_allclose(distances.numpy(), expected_distances, rtol=1e-4, atol=1e-5)
    assert not np.any(rows.numpy()[:10] == np.arange(10)[:, None])
    neighbours, layer_distances = index(tf.constant(queries), keys=tf.constant(query_keys))
    np.testing.assert_allclose(neighbours.numpy(), codes[expected_rows], rtol=1e-6)
    np.testing.assert_allclose(layer_distances.numpy(), expected_distances, rtol=1e-4, atol=1e-5)
    # Without keys nothing is excluded: a stored code finds itself first.
    rows, distances = index.search(tf.constant(codes[:3]))
    np.testing.assert_array_equal(rows.numpy()[:, 0], [0, 1, 2])
    np.testing.assert_allclose(distances.numpy()[:, 0], 0.0, atol=1e-5)


def test_fewer_than_k_available_neighbours_are_marked():
    index = _filled_index(
        np.array([[0.0, 0.0], [1.0, 0.0]], np.float32), np.array([7, 8], np.int64), num_neighbours=3
    )
    rows, distances = index.search(tf.constant([[0.0, 0.0]]), tf.constant([7], tf.int64))
    np.testing.assert_array_equal(rows.numpy(), [[1, -1, -1]])
    np.testing.assert_array_equal(distances.numpy(), [[1.0, np.inf, np.inf]])
    np.testing.assert_array_equal(index.gather(rows).numpy(), [[[1, 0], [0, 0], [0, 0]]])
    index.reset()
    rows, _ = index.search(tf.constant([[0.0, 0.0]]))
    np.testing.assert_array_equal(rows.numpy(), [[-1, -1, -1]])


def test_update_replaces_known_keys_and_appends_new_ones():
    index = CodeIndex(capacity=5, code_dim=1, num_neighbours=1)
    reference = {}  # key -> code, in order of first appearance (a dict keeps it)

    def write(keys, codes):
        index.update(tf.constant(codes, tf.float32)[:, None], tf.constant(keys, tf.int64))
        for key, code in zip(keys, codes):
            if key in reference or len(reference) < 5:
                reference[key] = code

    write([3, 4, 3], [1.0, 2.0, 1.0])  # a key twice in one batch shares one row
    write([4, 9, 10], [5.0, 6.0, 7.0])  # 4 is replaced, 9 and 10 appended
    write([11, 12, 4], [8.0, 9.0, 10.0])  # 11 fills the last row, 12 is beyond the capacity
    size = int(index.size.numpy())
    assert size == len(reference) == 5
    np.testing.assert_array_equal(index.keys.numpy(), list(reference))
    np.testing.assert_array_equal(index.codes.numpy()[:, 0], list(reference.values()))


def test_fingerprint_is_exact_and_separates_distinct_images():
    images = np.concatenate(
        [
            b["image"].numpy()
            for b in data.load("digits", "train", batch_size=2000, shuffle=False, view="binary")
        ]
    )
    keys = image_fingerprint(tf.constant(images)).numpy()
    flat = images.reshape(len(images), -1).astype(np.int64)
    # An independent reference: the same fixed weights, summed exactly in Python integers.
    weights = [int(w) for w in (image_fingerprint(tf.eye(64, dtype=tf.int32)[:, :, None]).numpy())]
    expected = [sum(w for w, x in zip(weights, row) if x) for row in flat]
    np.testing.assert_array_equal(keys, expected)
    assert len(np.unique(keys)) == len(np.unique(flat, axis=0))  # equal keys <=> equal images
    xla = tf.function(image_fingerprint, jit_compile=True)(tf.constant(images))
    np.testing.assert_array_equal(xla.numpy(), keys)


def test_errors():
    with pytest.raises(ValueError, match="num_neighbours: expected fewer than capacity=3"):
        CodeIndex(capacity=3, code_dim=2, num_neighbours=3)
    index = CodeIndex(capacity=4, code_dim=2, num_neighbours=1)
    with pytest.raises(ValueError, match=r"queries: expected shape \[batch, 2\]"):
        index.search(tf.zeros([2, 3]))
    with pytest.raises(TypeError, match="keys: expected int64 example keys, got int32"):
        index.update(tf.zeros([2, 2]), tf.constant([1, 2]))
    with pytest.raises(TypeError, match="expected integer pixels, got float32"):
        image_fingerprint(tf.zeros([2, 4, 4, 1]))
