"""The LSH index of Sparse Access Memory (arXiv 1610.09027, Sec. 3.5) against NumPy references.

The references are written from the specification, not from the layer: sign-bit codes of
random hyperplanes (Charikar 2002), a sequential ring-buffer index that processes one slot
at a time, and brute-force cosine nearest neighbours.
"""

import math
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.layers.xla_copies import copies_of
from tests.test_case import run_layer_test
from tfgen.layers.lsh_index import LSHIndex, LSHIndexState, orthogonal_hyperplanes

# --- NumPy references -------------------------------------------------------------------


def reference_codes(words, hyperplanes):
    """Codes [L, M] of words [M, W]: bit j of table l is [x . h_lj > 0], weight 2^j."""
    bits = np.einsum("mw,lwj->lmj", words, hyperplanes) > 0
    return (bits * (2 ** np.arange(hyperplanes.shape[-1]))).sum(-1)


class SequentialIndex:
    """One memory's index, updated one slot at a time with Python loops.

    Per table: buckets of C entries; a slot is indexed at (codes[s], positions[s]) unless its
    position is -1. Construction fills each bucket with its slots in increasing slot order,
    dropping those past C. An update keeps in place every slot whose bucket is unchanged and
    which is indexed (judged before the update); it then inserts the other slots (the last
    occurrence of each, in the order of the last occurrences) one by one at the bucket's
    ring position `fill`, unindexing the entry found there if it was valid.
    """

    def __init__(self, codes, num_buckets, capacity):
        num_tables, num_slots = codes.shape
        self.capacity = capacity
        self.buckets = np.full((num_tables, num_buckets, capacity), -1)
        self.fill = np.zeros((num_tables, num_buckets), int)
        self.codes = codes.copy()
        self.positions = np.full((num_tables, num_slots), -1)
        for table in range(num_tables):
            counts = np.zeros(num_buckets, int)
            for slot in range(num_slots):
                code = codes[table, slot]
                if counts[code] < capacity:
                    self.buckets[table, code, counts[code]] = slot
                    self.positions[table, slot] = counts[code]
                counts[code] += 1
            self.fill[table] = np.minimum(counts, capacity) % capacity

    def update(self, new_codes, slots):
        slots = list(slots)
        last = [m for m in range(len(slots)) if slots[m] not in slots[m + 1 :]]
        for table in range(self.codes.shape[0]):
            moving = [
                m
                for m in last
                if not (
                    self.positions[table, slots[m]] >= 0
                    and self.codes[table, slots[m]] == new_codes[table, m]
                )
            ]
            for m in moving:
                slot, code = slots[m], new_codes[table, m]
                position = self.fill[table, code]
                occupant = self.buckets[table, code, position]
                if (
                    occupant >= 0
                    and self.codes[table, occupant] == code
                    and self.positions[table, occupant] == position
                ):
                    self.positions[table, occupant] = -1
                self.buckets[table, code, position] = slot
                self.codes[table, slot] = code
                self.positions[table, slot] = position
                self.fill[table, code] = (position + 1) % self.capacity

    def indexed_in(self, table, code):
        """The set of slots indexed in bucket `code` of `table`."""
        return {
            int(s)
            for s in np.flatnonzero((self.codes[table] == code) & (self.positions[table] >= 0))
        }


def cosine_matrix(a, b):
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return a @ b.T


def noisy_copies(rows, cosine, rng):
    """Unit vectors at exactly `cosine` to each row, in a random direction."""
    unit = rows / np.linalg.norm(rows, axis=-1, keepdims=True)
    noise = rng.normal(size=rows.shape)
    noise -= (noise * unit).sum(-1, keepdims=True) * unit
    noise /= np.linalg.norm(noise, axis=-1, keepdims=True)
    return (cosine * unit + math.sqrt(1 - cosine**2) * noise).astype(np.float32)


# --- helpers ----------------------------------------------------------------------------


def _assert_state_equal(state, references):
    for batch, reference in enumerate(references):
        for name in LSHIndexState._fields:
            np.testing.assert_array_equal(
                getattr(state, name).numpy()[batch], getattr(reference, name), err_msg=name
            )


def _memory(rng, batch, size, width):
    return rng.normal(size=(batch, size, width)).astype(np.float32)


# --- tests ------------------------------------------------------------------------------


def test_layer_test_case():
    rng = np.random.default_rng(0)
    run_layer_test(
        LSHIndex,
        {"memory_size": 32, "word_size": 8, "num_tables": 2, "bucket_size": 8, "seed": 3},
        (_memory(rng, 2, 32, 8), _memory(rng, 2, 3, 8)),
        expected_output_shape=((2, 3, 4, 8), (2, 3, 4)),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=1,
        call_kwargs={"k": 4},
        run_training_check=False,
    )  # nothing to train: the hyperplanes are fixed


def test_default_num_bits_gives_about_bucket_size_slots_per_bucket():
    for memory_size, bucket_size in [(4096, 16), (1024, 16), (1000, 10), (17, 16), (8, 16)]:
        expected = max(1, math.ceil(math.log2(memory_size / bucket_size)))
        index = LSHIndex(memory_size, 4, bucket_size=bucket_size)
        assert index.num_bits == expected
        assert LSHIndex.from_config(index.get_config()).num_bits == expected


def test_hyperplanes_are_seeded_orthonormal_frames_with_the_angle_collision_law():
    index = LSHIndex(256, 8, num_tables=3, num_bits=20, seed=5)
    index.build()
    hyperplanes = index.hyperplanes.numpy()
    assert hyperplanes.shape == (3, 8, 20)
    for table in hyperplanes:  # groups of W = 8 normals: orthonormal within a group
        for start in range(0, 20, 8):
            group = table[:, start : start + 8]
            np.testing.assert_allclose(group.T @ group, np.eye(group.shape[1]), atol=1e-5)
    again = orthogonal_hyperplanes((3, 8, 20), seed=5).numpy()
    np.testing.assert_array_equal(hyperplanes, again)
    assert not np.allclose(again, orthogonal_hyperplanes((3, 8, 20), seed=6).numpy())
    # Charikar 2002: two vectors at angle theta share a sign bit with probability 1 - theta/pi.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2, 8))
    theta = math.acos(cosine_matrix(x[None], y[None])[0, 0])
    planes = orthogonal_hyperplanes((4000, 8, 2), seed=7).numpy()
    agree = np.mean(
        (np.einsum("w,lwj->lj", x, planes) > 0) == (np.einsum("w,lwj->lj", y, planes) > 0)
    )
    assert abs(agree - (1 - theta / math.pi)) < 0.02  # 3.6 standard errors of 8000 bits


def test_initial_state_matches_the_sequential_reference():
    rng = np.random.default_rng(2)
    memory = _memory(rng, 2, 64, 8)
    index = LSHIndex(64, 8, num_tables=3, num_bits=3, bucket_size=4, seed=1)  # overflows
    state = index.initial_state(memory)
    hyperplanes = index.hyperplanes.numpy()
    references = [SequentialIndex(reference_codes(m, hyperplanes), 8, 4) for m in memory]
    _assert_state_equal(state, references)
    assert np.any(state.positions.numpy() < 0)  # some slots overflowed their bucket


def test_update_matches_the_sequential_reference():
    rng = np.random.default_rng(3)
    size, width = 64, 8
    memory = _memory(rng, 2, size, width)
    index = LSHIndex(size, width, num_tables=3, num_bits=3, bucket_size=4, seed=1)
    state = index.initial_state(memory)
    hyperplanes = index.hyperplanes.numpy()
    references = [SequentialIndex(reference_codes(m, hyperplanes), 8, 4) for m in memory]
    updates = []
    for _ in range(6):  # random slots with repeats, some rows unchanged (slots that stay)
        slots = rng.integers(0, size, size=(2, 10))
        rows = rng.normal(size=(2, 10, width)).astype(np.float32)
        rows[:, :3] = memory[np.arange(2)[:, None], slots[:, :3]]
        updates.append((rows, slots))
    # Seven rows in one direction: more inserts into one bucket than it holds.
    same = np.repeat(rng.normal(size=(2, 1, width)), 7, axis=1) * rng.uniform(1, 2, (2, 7, 1))
    updates.append((same.astype(np.float32), np.stack([rng.permutation(size)[:7]] * 2)))
    for rows, slots in updates:
        state = index.update(state, rows, tf.constant(slots, tf.int32))
        for batch, reference in enumerate(references):
            reference.update(reference_codes(rows[batch], hyperplanes), slots[batch])
            memory[batch, slots[batch]] = rows[batch]
        _assert_state_equal(state, references)
    # The invariant: an indexed slot is where its code and position say.
    buckets, codes, positions = (
        state.buckets.numpy(),
        state.codes.numpy(),
        state.positions.numpy(),
    )
    batch, table, slot = np.nonzero(positions >= 0)
    np.testing.assert_array_equal(
        buckets[batch, table, codes[batch, table, slot], positions[batch, table, slot]], slot
    )


def test_query_candidates_are_the_indexed_slots_of_the_key_buckets_once_each():
    rng = np.random.default_rng(4)
    size, width = 128, 8
    memory = _memory(rng, 2, size, width)
    index = LSHIndex(size, width, num_tables=4, num_bits=4, bucket_size=6, seed=2)
    state = index.initial_state(memory)
    hyperplanes = index.hyperplanes.numpy()
    references = [SequentialIndex(reference_codes(m, hyperplanes), 16, 6) for m in memory]
    for _ in range(4):
        slots = rng.integers(0, size, size=(2, 12))
        rows = rng.normal(size=(2, 12, width)).astype(np.float32)
        state = index.update(state, rows, tf.constant(slots, tf.int32))
        for batch, reference in enumerate(references):
            reference.update(reference_codes(rows[batch], hyperplanes), slots[batch])
    keys = rng.normal(size=(2, 9, width)).astype(np.float32)
    candidates, valid = index.query(state, keys)
    assert candidates.shape == valid.shape == (2, 9, 24)
    for batch, reference in enumerate(references):
        key_codes = reference_codes(keys[batch], hyperplanes)
        for head in range(9):
            found = candidates.numpy()[batch, head][valid.numpy()[batch, head]]
            assert len(found) == len(set(found.tolist()))  # no slot twice
            expected = set().union(*(reference.indexed_in(t, key_codes[t, head]) for t in range(4)))
            assert set(found.tolist()) == expected


def test_nearest_is_the_exact_top_k_of_the_valid_candidates_then_low_slot_ids():
    rng = np.random.default_rng(5)
    size, width, k = 96, 8, 5
    memory = _memory(rng, 2, size, width)
    index = LSHIndex(size, width, num_tables=2, num_bits=4, bucket_size=4, seed=3)
    state = index.initial_state(memory)
    keys = rng.normal(size=(2, 20, width)).astype(np.float32)
    nearest = index.nearest(state, memory, keys, k).numpy()
    candidates, valid = (t.numpy() for t in index.query(state, keys))
    for batch in range(2):
        for head in range(20):
            found = candidates[batch, head][valid[batch, head]]
            similarity = cosine_matrix(keys[batch, head][None], memory[batch, found])[0]
            ranked = list(found[np.argsort(-similarity)])
            ranked += [s for s in range(size) if s not in ranked]
            np.testing.assert_array_equal(nearest[batch, head], ranked[:k])
    # An index with nothing in it: the fallback slots 0..k-1.
    empty = state._replace(buckets=tf.fill(tf.shape(state.buckets), -1))
    np.testing.assert_array_equal(
        index.nearest(empty, memory, keys, k), np.tile(np.arange(k), (2, 20, 1))
    )


def test_nearest_ids_are_distinct_and_in_range_when_buckets_overflow():
    rng = np.random.default_rng(6)
    size, width = 40, 4
    memory = _memory(rng, 3, size, width)
    memory[:, 10:] = 0.0  # zero words all hash to bucket 0
    index = LSHIndex(size, width, num_tables=2, num_bits=1, bucket_size=3, seed=4)
    state = index.initial_state(memory)
    k = index.num_candidates  # 6: more than the valid candidates of most keys
    state = index.update(state, memory[:, :5] * -1.0, tf.constant([[30, 31, 30, 32, 39]] * 3))
    ids = index.nearest(state, memory, rng.normal(size=(3, 50, width)).astype(np.float32), k)
    ids = ids.numpy()
    assert ids.min() >= 0 and ids.max() < size
    assert all(len(set(row)) == k for row in ids.reshape(-1, k))


def test_recall_of_noisy_copies_against_numpy_brute_force():
    rng = np.random.default_rng(7)
    size, width, queries = 4096, 32, 512
    memory = _memory(rng, 1, size, width)
    sources = rng.choice(size, queries, replace=False)
    keys = noisy_copies(memory[0, sources], 0.9, rng)[None]  # cosine 0.9 to their row
    true_nearest = np.argmax(cosine_matrix(keys[0], memory[0]), axis=1)
    index = LSHIndex(size, width, num_tables=12, seed=0)  # b = 8 bits, C = 16: 192 candidates
    ids = index.nearest(index.initial_state(memory), memory, keys, k=4).numpy()[0]
    recall = np.mean(np.any(ids == true_nearest[:, None], axis=1))
    # Measured 0.959 (with the default 4 tables: 0.697; 8 tables: 0.908).
    assert recall >= 0.9, recall


def test_candidate_count_does_not_grow_with_memory_size():
    rng = np.random.default_rng(8)
    shapes = []
    for size in (1024, 16384):
        index = LSHIndex(size, 16, num_tables=3, bucket_size=8, seed=0)
        memory = _memory(rng, 1, size, 16)
        candidates, valid = index.query(index.initial_state(memory), memory[:, :5])
        shapes.append((tuple(candidates.shape), tuple(valid.shape)))
    assert index.num_bits == 11
    assert shapes[0] == shapes[1] == (((1, 5, 24),) * 2)


def test_written_rows_are_found_and_moved_slots_leave_their_old_bucket():
    rng = np.random.default_rng(9)
    size, width, writes = 4096, 32, 256
    memory = _memory(rng, 1, size, width)
    index = LSHIndex(size, width, seed=1)  # the defaults: 4 tables, C = 16
    state = index.initial_state(memory)
    slots = rng.integers(0, size, size=(1, writes))  # with repeats: the last row counts
    rows = rng.normal(size=(1, writes, width)).astype(np.float32)
    for m in range(writes):
        memory[0, slots[0, m]] = rows[0, m]
    state = index.update(state, rows, tf.constant(slots, tf.int32))
    written = np.unique(slots[0])
    ids = index.nearest(state, memory, memory[:, written], k=4).numpy()[0]
    recall = np.mean(np.any(ids == written[:, None], axis=1))
    assert recall >= 0.95, recall  # measured 1.0
    # Slot `moved` gets the opposite word: every sign bit flips, so it changes bucket in all tables.
    moved = int(written[0])
    old_row = memory[:, moved : moved + 1].copy()
    state = index.update(state, -old_row, tf.constant([[moved]]))
    candidates, valid = (t.numpy()[0, 0] for t in index.query(state, old_row))
    assert moved in candidates  # still stored in its old buckets...
    assert moved not in candidates[valid]  # ...but no longer valid there


def test_xla_matches_graph_mode_in_a_while_loop():
    rng = np.random.default_rng(10)
    size, width, steps = 256, 8, 5
    memory = tf.constant(_memory(rng, 2, size, width))
    rows = tf.constant(rng.normal(size=(steps, 2, 3, width)).astype(np.float32))
    slots = tf.constant(rng.integers(0, size, size=(steps, 2, 3)), tf.int32)
    keys = tf.constant(rng.normal(size=(steps, 2, 4, width)).astype(np.float32))
    index = LSHIndex(size, width, num_tables=3, bucket_size=4, seed=5)

    def run(memory):
        def body(t, state, memory, found):
            state = index.update(state, rows[t], slots[t])
            batch = tf.broadcast_to(tf.range(2)[:, None], tf.shape(slots[t]))
            memory = tf.tensor_scatter_nd_update(memory, tf.stack([batch, slots[t]], -1), rows[t])
            found = found.write(t, index.nearest(state, memory, keys[t], 3))
            return t + 1, state, memory, found

        found = tf.TensorArray(tf.int32, size=steps)
        loop = (0, index.initial_state(memory), memory, found)
        _, state, _, found = tf.while_loop(
            lambda t, *_: t < steps, body, loop, maximum_iterations=steps
        )
        return state, found.stack()

    graph_state, graph_found = tf.function(run)(memory)
    xla_state, xla_found = tf.function(run, jit_compile=True)(memory)
    np.testing.assert_array_equal(xla_found, graph_found)
    for name in LSHIndexState._fields:
        np.testing.assert_array_equal(getattr(xla_state, name), getattr(graph_state, name))
    assert graph_found.shape == (steps, 2, 4, 3)


def test_compiled_loop_updates_the_index_in_place():
    """Per step, XLA updates the O(N) index state in place: no copy of it."""
    size, width, steps = 1024, 8, 4
    rng = np.random.default_rng(12)
    rows = tf.constant(rng.normal(size=(steps, 2, 3, width)).astype(np.float32))
    slots = tf.constant(rng.integers(0, size, size=(steps, 2, 3)), tf.int32)
    index = LSHIndex(size, width, num_tables=3, bucket_size=4, seed=5)

    @tf.function(jit_compile=True)
    def run(memory):
        def body(t, state, memory, found):
            batch = tf.broadcast_to(tf.range(2)[:, None], tf.shape(slots[t]))
            memory = tf.tensor_scatter_nd_update(memory, tf.stack([batch, slots[t]], -1), rows[t])
            state = index.update(state, rows[t], slots[t])
            found = found.write(t, index.nearest(state, memory, rows[t], 2))
            return t + 1, state, memory, found

        found = tf.TensorArray(tf.int32, size=steps)
        loop = (0, index.empty_state(2), memory, found)
        return tf.while_loop(lambda t, *_: t < steps, body, loop)[3].stack()

    tables, buckets = index.num_tables, index.num_buckets
    shapes = [(2, tables, size), (2, tables, buckets, index.bucket_size), (2, tables, buckets)]
    assert not copies_of(run, [tf.zeros([2, size, width])], shapes)


def test_save_weights_restores_the_hyperplanes(tmp_path):
    rng = np.random.default_rng(11)
    memory, keys = _memory(rng, 2, 64, 8), _memory(rng, 2, 3, 8)

    def model(seed):
        inputs = [tf.keras.Input((64, 8)), tf.keras.Input((3, 8))]
        outputs = LSHIndex(64, 8, num_bits=3, bucket_size=8, seed=seed)(inputs, k=2)
        return tf.keras.Model(inputs, outputs)

    saved, other = model(None), model(12)
    path = os.path.join(tmp_path, "index.weights.h5")
    saved.save_weights(path)
    assert not np.allclose(other.get_weights()[0], saved.get_weights()[0])
    other.load_weights(path)
    np.testing.assert_array_equal(other.get_weights()[0], saved.get_weights()[0])
    for a, b in zip(other([memory, keys]), saved([memory, keys])):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"memory_size": 0, "word_size": 4}, ValueError),
        ({"memory_size": 8, "word_size": 4.0}, TypeError),
        ({"memory_size": 8, "word_size": 4, "num_tables": 0}, ValueError),
        ({"memory_size": 8, "word_size": 4, "num_bits": 25}, ValueError),
        ({"memory_size": 8, "word_size": 4, "bucket_size": True}, TypeError),
        ({"memory_size": 8, "word_size": 4, "seed": -1}, ValueError),
    ],
)
def test_constructor_errors(kwargs, error):
    with pytest.raises(error):
        LSHIndex(**kwargs)


def test_call_errors():
    index = LSHIndex(8, 4, num_tables=2, bucket_size=2)
    memory = np.zeros((1, 8, 4), np.float32)
    state = index.initial_state(memory)
    with pytest.raises(ValueError, match="memory: expected shape"):
        index.initial_state(np.zeros((1, 9, 4), np.float32))
    with pytest.raises(ValueError, match="keys: expected shape"):
        index.query(state, np.zeros((1, 2, 5), np.float32))
    with pytest.raises(TypeError, match="float"):
        index.query(state, np.zeros((1, 2, 4), np.int32))
    with pytest.raises(ValueError, match="k: expected at most"):
        index.nearest(state, memory, memory[:, :1], k=5)
    with pytest.raises(TypeError, match="slot ids"):
        index.update(state, memory[:, :2], np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="slots: expected shape"):
        index.update(state, memory[:, :2], np.zeros((1, 3), np.int32))
