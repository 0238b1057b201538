"""A random-hyperplane LSH index: the approximate nearest neighbours of Sparse Access Memory.

Sparse Access Memory (Rae et al. 2016, arXiv 1610.09027, Sec. 3.5) reads the
K memory words most similar to a key through an approximate nearest neighbour
(ANN) index, so that a query, an insertion and a deletion cost far less than a
pass over all N words; for large word sizes the paper uses locality-sensitive
hashing, and it rebuilds the index from scratch every N insertions.

`LSHIndex` hashes a word with random hyperplanes (Charikar 2002): bit j of its
code in table l is `[x . h_lj > 0]`, so two words at angle theta agree on a bit
with probability `1 - theta / pi`, which makes the code a hash for cosine
similarity. The hyperplanes of a table are orthonormal
(`orthogonal_hyperplanes`), which fills the buckets more evenly. Each of the L
tables sends a word to one of `2^b` buckets of fixed capacity C. The whole
index is a tuple of int32 tensors, `LSHIndexState`, with a leading batch axis,
so it can be carried through a `tf.while_loop` or be an RNN state, and every
operation after construction touches O(L * C) entries whatever N is.
"""

import collections
import math

import tensorflow as tf

from tfgen.checks import check_int
from tfgen.layers.memory import cosine_similarity
from tfgen.layers.ordering import after
from tfgen.layers.scatter import scatter_per_example

_MAX_BITS = 24  # 2^24 buckets per table is already far beyond any memory that fits

LSHIndexState = collections.namedtuple("LSHIndexState", ["buckets", "fill", "codes", "positions"])
LSHIndexState.__doc__ = """The state of an `LSHIndex` over a batch of B memories of N slots.

For L tables of 2^b buckets of capacity C:

* `buckets`: int32 [B, L, 2^b, C], the slot ids in each bucket (-1: never
  filled). An entry may be stale: it counts only while the slot's `codes` and
  `positions` still point at it.
* `fill`: int32 [B, L, 2^b], the ring-buffer position in [0, C) where the next
  slot hashed to the bucket is written, evicting the entry there.
* `codes`: int32 [B, L, N], the bucket of each slot in each table.
* `positions`: int32 [B, L, N], the position of each slot in its bucket, -1
  if the slot is in no bucket of that table (it overflowed or was evicted).

Invariant: `positions[b, l, s] >= 0` implies
`buckets[b, l, codes[b, l, s], positions[b, l, s]] == s`.
"""


def orthogonal_hyperplanes(shape, seed=None, dtype=tf.float32):
    """Random hyperplane normals [L, W, b], orthonormal in groups of W within each table.

    Each group of `min(W, b)` normals of a table is uniformly distributed over
    orthonormal frames (the columns of a Haar-random orthogonal matrix), so
    the sign bits of one table split isotropic data into 2^b equal cells;
    independent Gaussian normals (Charikar 2002) would leave them unequal and
    overfill some buckets (super-bit LSH, Ji et al. 2012).

    Args:
      shape: (L, W, b).
      seed: int or None: the same seed gives the same hyperplanes.
      dtype: float dtype of the result.

    Returns:
      float tensor [L, W, b] with unit-norm columns.
    """
    num_tables, word_size, num_bits = shape
    groups = -(-num_bits // word_size)
    gaussian_shape = [num_tables, groups, word_size, word_size]
    if seed is None:
        gaussian = tf.random.normal(gaussian_shape, dtype=tf.float64)
    else:
        gaussian = tf.random.stateless_normal(gaussian_shape, [seed, 0], dtype=tf.float64)
    q, r = tf.linalg.qr(gaussian)
    q *= tf.sign(tf.linalg.diag_part(r))[..., None, :]  # Haar measure (Mezzadri 2007)
    frames = tf.reshape(tf.transpose(q, [0, 2, 1, 3]), [num_tables, word_size, -1])
    return tf.cast(frames[..., :num_bits], dtype or tf.float32)


def _default_num_bits(memory_size, bucket_size):
    """b = max(1, ceil(log2(N / C))): about C slots per bucket, at least N slots in all."""
    return max(1, math.ceil(math.log2(memory_size / bucket_size)))


def _check_words(tensor, name, size, axis_name, word_size):
    """`tensor` as a float tensor [B, size, word_size] (size None: any)."""
    tensor = tf.convert_to_tensor(tensor)
    if not tensor.dtype.is_floating:
        raise TypeError(f"{name}: expected a float tensor, got {tensor.dtype.name}.")
    shape = tensor.shape
    if (
        shape.rank != 3
        or (shape[2] is not None and shape[2] != word_size)
        or (size is not None and shape[1] is not None and shape[1] != size)
    ):
        expected = f"[batch, {size if size is not None else axis_name}, {word_size}]"
        raise ValueError(f"{name}: expected shape {expected}, got {shape}.")
    return tensor


def _scatter(tensor, ids, values, update=tf.tensor_scatter_nd_update):
    """`tensor[b, l, *ids[b, l, m]] = values[b, l, m]` for every b, l, m (`update` for `=`)."""
    return scatter_per_example(update, tensor, ids, values, leading_axes=2)


def _count(mask):
    """The number of True entries on the last axis, int32."""
    return tf.reduce_sum(tf.cast(mask, tf.int32), axis=-1)


def _earlier(size):
    """bool [size, size], True where the column index is below the row index."""
    index = tf.range(size)
    return index[None, :] < index[:, None]


def _seen_before(ids, mask):
    """bool [..., P]: entry j repeats an id of an entry i < j where `mask` holds."""
    same = tf.equal(ids[..., :, None], ids[..., None, :])
    return tf.reduce_any(same & mask[..., None, :] & _earlier(tf.shape(ids)[-1]), axis=-1)


@tf.keras.saving.register_keras_serializable(package="tfgen")
class LSHIndex(tf.keras.layers.Layer):
    """An approximate nearest neighbour index for cosine similarity, in tensors.

    L hash tables of random-hyperplane codes (b bits each, 2^b buckets of C
    slots each) over a batch of memories [B, N, W]. `initial_state(memory)`
    indexes whole memories once (O(N log N)); `update(state, rows, slots)`
    re-indexes rows just written; `query(state, keys)` returns the L * C
    candidate slots of each key (the contents of its bucket in every table)
    with a mask of the valid, first-seen ones; `nearest(state, memory, keys,
    k)` ranks those candidates by exact cosine similarity. Query and update
    cost depends on L, C, b, W and the number of keys or rows, never on N,
    and use only fixed-shape ops, so they run inside `tf.while_loop` bodies
    and under `tf.function(jit_compile=True)`.

    Buckets are ring buffers: a slot hashed to a full bucket evicts the entry
    written there longest ago, and an evicted or overflowed slot is found by
    none of that table's queries until it is written again. Old entries are
    invalidated lazily (an entry counts while its slot's code and position
    still point at it). As in the paper, rebuild the index with
    `initial_state` every N or so writes to keep it complete.

    Calling the layer on `(memory, keys)` builds the index of `memory` and
    returns the k nearest words of each key with their similarities.

    Reference:
      Rae, Hunt, Harley, Danihelka, Senior, Wayne, Graves and Lillicrap 2016,
      "Scaling Memory-Augmented Neural Networks with Sparse Reads and
      Writes", arXiv 1610.09027, Sec. 3.5 (the approximate nearest neighbour
      index of SAM); Charikar 2002, "Similarity estimation techniques from
      rounding algorithms" (random-hyperplane hashing for angles).

    Args:
      memory_size: int N, the number of memory slots.
      word_size: int W, the size of a memory word.
      num_tables: int L, the number of hash tables.
      num_bits: int b, the bits of a code (2^b buckets per table); None
        picks `max(1, ceil(log2(N / bucket_size)))`.
      bucket_size: int C, the capacity of a bucket.
      seed: int or None, the seed of the random hyperplanes (a non-trainable
        weight [L, W, b] drawn at build by `orthogonal_hyperplanes`, saved
        with the layer).
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: a pair `(memory, keys)`: float tensors [B, N, W] and [B, H, W].
      k: int, the number of neighbours per key, at most `min(N, L * C)` (SAM
        reads K = 4 words per head).

    Returns:
      A pair `(neighbours, similarities)`: the k words [B, H, k, W] that
      `nearest` picks for each key, and their cosine similarities [B, H, k].

    Example:

    >>> index = LSHIndex(memory_size=64, word_size=8, num_bits=3, bucket_size=16, seed=1)
    >>> memory = tf.random.stateless_normal([1, 64, 8], seed=[0, 1])
    >>> state = index.initial_state(memory)
    >>> [tuple(t.shape) for t in state]  # buckets, fill, codes, positions
    [(1, 4, 8, 16), (1, 4, 8), (1, 4, 64), (1, 4, 64)]
    >>> index.nearest(state, memory, memory[:, 5:7], k=2)[..., 0].numpy()
    array([[5, 6]], dtype=int32)
    >>> row = -memory[:, 5:6]  # write slot 5, then re-index it
    >>> memory = tf.concat([memory[:, :5], row, memory[:, 6:]], axis=1)
    >>> state = index.update(state, row, tf.constant([[5]]))
    >>> index.nearest(state, memory, row, k=1).numpy()
    array([[[5]]], dtype=int32)
    """

    def __init__(
        self,
        memory_size,
        word_size,
        num_tables=4,
        num_bits=None,
        bucket_size=16,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.memory_size = check_int(memory_size, "memory_size")
        self.word_size = check_int(word_size, "word_size")
        self.num_tables = check_int(num_tables, "num_tables")
        self.bucket_size = check_int(bucket_size, "bucket_size")
        if num_bits is None:
            num_bits = _default_num_bits(self.memory_size, self.bucket_size)
        self.num_bits = check_int(num_bits, "num_bits")
        if self.num_bits > _MAX_BITS:
            raise ValueError(f"num_bits: expected at most {_MAX_BITS} bits, got {self.num_bits}.")
        self.seed = None if seed is None else check_int(seed, "seed", 0)

    @property
    def num_buckets(self):
        """2^b, the buckets per table."""
        return 2**self.num_bits

    @property
    def num_candidates(self):
        """L * C, the candidates a query returns per key, whatever N is."""
        return self.num_tables * self.bucket_size

    def build(self, input_shape=None):
        self.hyperplanes = self.add_weight(
            name="hyperplanes",
            shape=(self.num_tables, self.word_size, self.num_bits),
            initializer=lambda shape, dtype=None: orthogonal_hyperplanes(shape, self.seed, dtype),
            trainable=False,
        )
        super().build(input_shape)

    def _ensure_built(self):
        if not self.built:
            self.build()

    def bucket_codes(self, words):
        """The bucket of each word in each table.

        Args:
          words: float tensor [B, M, W].

        Returns:
          int32 tensor [B, L, M], `sum_j 2^j [x . h_lj > 0]`.
        """
        self._ensure_built()
        words = tf.cast(words, self.compute_dtype)
        hyperplanes = tf.cast(self.hyperplanes, self.compute_dtype)
        # 1610.09027 Sec. 3.5 (LSH): sign bits of random projections, one code per table.
        bits = tf.einsum("bmw,lwk->blmk", words, hyperplanes) > 0
        weights = tf.bitwise.left_shift(1, tf.range(self.num_bits))
        return tf.reduce_sum(tf.cast(bits, tf.int32) * weights, axis=-1)

    def initial_state(self, memory):
        """The index of whole memories: every slot hashed and put in its buckets.

        Within a bucket slots are placed in increasing slot order; the slots
        beyond the first C of a bucket are not indexed in that table
        (position -1). A one-time O(L N log N) sort.

        Args:
          memory: float tensor [B, N, W].

        Returns:
          An `LSHIndexState` (see its docstring for the shapes).
        """
        memory = _check_words(memory, "memory", self.memory_size, "N", self.word_size)
        capacity = self.bucket_size
        codes = self.bucket_codes(memory)  # [B, L, N]
        order = tf.argsort(codes, axis=-1, stable=True)  # slots grouped by bucket
        sorted_codes = tf.gather(codes, order, batch_dims=2)
        counts = _scatter(
            tf.zeros(tf.concat([tf.shape(codes)[:2], [self.num_buckets]], 0), tf.int32),
            [sorted_codes],
            tf.ones_like(sorted_codes),
            update=tf.tensor_scatter_nd_add,
        )  # [B, L, 2^b]
        starts = tf.cumsum(counts, axis=-1, exclusive=True)
        rank = tf.range(self.memory_size) - tf.gather(starts, sorted_codes, batch_dims=2)
        # Column C collects the overflow and is cut off.
        buckets = _scatter(
            tf.fill(tf.concat([tf.shape(counts), [capacity + 1]], 0), -1),
            [sorted_codes, tf.minimum(rank, capacity)],
            order,
        )[..., :capacity]
        positions = _scatter(tf.zeros_like(codes), [order], tf.where(rank < capacity, rank, -1))
        fill = tf.minimum(counts, capacity) % capacity
        return LSHIndexState(buckets, fill, codes, positions)

    def empty_state(self, batch_size):
        """The index of B memories with no slot indexed yet (for all-zero memories): O(N) fills.

        Args:
          batch_size: int or scalar int tensor B.

        Returns:
          An `LSHIndexState` in which every bucket is empty and every slot unindexed.
        """
        tables, buckets = self.num_tables, self.num_buckets
        return LSHIndexState(
            buckets=tf.fill([batch_size, tables, buckets, self.bucket_size], -1),
            fill=tf.zeros([batch_size, tables, buckets], tf.int32),
            codes=tf.fill([batch_size, tables, self.memory_size], -1),
            positions=tf.fill([batch_size, tables, self.memory_size], -1),
        )

    def update(self, state, memory_rows, slots):
        """Re-indexes the slots just written (O(L M (W b + M)) work, none of it O(N)).

        In each table a slot whose bucket is unchanged and which is still
        indexed keeps its entry. Every other slot leaves its old entry (which
        goes stale) and is written into its new bucket at the ring position
        `fill`, in the order of `slots`, evicting the entry there; `fill`
        advances by one per slot written. Kept slots are placed first, so a
        kept slot may be evicted by a slot written in the same update.

        Args:
          state: an `LSHIndexState`.
          memory_rows: float tensor [B, M, W], the new contents of the slots.
          slots: int tensor [B, M], slot ids in [0, N) (out-of-range ids are an
            error on CPU and undefined under XLA). A slot may appear more than
            once: its last occurrence (row and place in the order) counts.

        Returns:
          The new `LSHIndexState`.
        """
        memory_rows = _check_words(memory_rows, "memory_rows", None, "M", self.word_size)
        slots = self._check_slots(slots, memory_rows)
        capacity = self.bucket_size
        new_codes = self.bucket_codes(memory_rows)  # [B, L, M]
        slot_ids = tf.broadcast_to(slots[:, None, :], tf.shape(new_codes))
        size = tf.shape(slots)[1]
        index = tf.range(size)

        # The last occurrence of each slot stands for all its occurrences.
        same_slot = tf.equal(slots[:, :, None], slots[:, None, :])
        last = tf.reduce_max(tf.where(same_slot, index, -1), axis=-1)  # [B, M]
        last = tf.broadcast_to(last[:, None, :], tf.shape(new_codes))
        latest = tf.equal(last, index)

        # 1610.09027 Sec. 3.5: deletion (lazy) and insertion of the rewritten words.
        old_positions = tf.gather(state.positions, slot_ids, batch_dims=2)
        stays = (old_positions >= 0) & tf.equal(
            tf.gather(state.codes, slot_ids, batch_dims=2), new_codes
        )
        inserted = latest & ~stays
        same_bucket = tf.equal(new_codes[..., :, None], new_codes[..., None, :])  # [B, L, M, M]
        rank = _count(same_bucket & inserted[..., None, :] & _earlier(size))
        inserted_in_bucket = _count(same_bucket & inserted[..., None, :])
        fill = tf.gather(state.fill, new_codes, batch_dims=2)
        target = tf.where(stays, old_positions, (fill + rank) % capacity)
        # The entry that ends up at (bucket, target): the last one written there.
        same_target = same_bucket & tf.equal(target[..., :, None], target[..., None, :])
        priority = tf.where(inserted, rank, -1)
        owner = tf.argmax(
            tf.where(same_target & latest[..., None, :], priority[..., None, :], -2),
            axis=-1,
            output_type=tf.int32,
        )

        def of_last(tensor):
            return tf.gather(tensor, last, batch_dims=2)

        codes, target, owner = of_last(new_codes), of_last(target), of_last(owner)
        owner_slot = tf.gather(slot_ids, owner, batch_dims=2)
        new_fill = (of_last(fill) + of_last(inserted_in_bucket)) % capacity

        # The valid entry each write overwrites loses its position, unless it is rewritten too.
        # `evicted` depends on every gather from the state, so the scatters can follow them.
        occupant = tf.gather_nd(state.buckets, tf.stack([codes, target], -1), batch_dims=2)
        rewritten = tf.reduce_any(tf.equal(occupant[..., :, None], slot_ids[..., None, :]), -1)
        evicted = (
            self._is_indexed(state, occupant, codes, target)
            & tf.not_equal(occupant, owner_slot)
            & ~rewritten
        )
        new_positions = tf.where(tf.equal(owner, last), target, -1)
        # One scatter: the writes of rewritten slots, then the evictions (which, where
        # there is none, repeat the slot's own write).
        positions = _scatter(
            state.positions,
            [tf.concat([slot_ids, tf.where(evicted, occupant, slot_ids)], -1)],
            tf.concat([new_positions, tf.where(evicted, -1, new_positions)], -1),
        )
        return LSHIndexState(
            buckets=_scatter(state.buckets, [codes, target], after(owner_slot, evicted)),
            fill=_scatter(state.fill, [codes], new_fill),
            codes=_scatter(state.codes, [slot_ids], after(codes, evicted)),
            positions=positions,
        )

    def query(self, state, keys):
        """The candidate slots of each key: its bucket in every table.

        Args:
          state: an `LSHIndexState`.
          keys: float tensor [B, H, W].

        Returns:
          A pair `(candidates, valid)`: int32 [B, H, L * C] slot ids (table by
          table, bucket order; -1 or stale ids where `valid` is False) and
          bool [B, H, L * C], True where the slot is indexed at that place and
          no earlier candidate of the same key is the same slot.
        """
        keys = _check_words(keys, "keys", None, "H", self.word_size)
        codes = self.bucket_codes(keys)  # [B, L, H]
        # 1610.09027 Sec. 3.5: the query reads one bucket per table, L * C candidates.
        candidates = tf.gather(state.buckets, codes, batch_dims=2)  # [B, L, H, C]
        shape = tf.shape(candidates)
        flat = tf.reshape(candidates, [shape[0], shape[1], -1])
        flat_codes = tf.reshape(tf.broadcast_to(codes[..., None], shape), [shape[0], shape[1], -1])
        flat_positions = tf.reshape(
            tf.broadcast_to(tf.range(self.bucket_size), shape), [shape[0], shape[1], -1]
        )
        valid = tf.reshape(self._is_indexed(state, flat, flat_codes, flat_positions), shape)

        def by_key(tensor):
            tensor = tf.transpose(tensor, [0, 2, 1, 3])  # [B, H, L, C]
            return tf.reshape(tensor, [shape[0], shape[2], self.num_candidates])

        candidates, valid = by_key(candidates), by_key(valid)
        return candidates, valid & ~_seen_before(candidates, valid)

    def nearest(self, state, memory, keys, k):
        """The k valid candidates most cosine-similar to each key, most similar first.

        When a key has fewer than k valid candidates, the rest are the
        lowest slot ids 0, 1, ... not already among them, in that order, so
        the k ids are always distinct and in [0, N).

        Args:
          state: an `LSHIndexState` of `memory`.
          memory: float tensor [B, N, W].
          keys: float tensor [B, H, W].
          k: int, at most `min(N, L * C)`.

        Returns:
          int32 tensor [B, H, k] of slot ids.
        """
        k = self._check_k(k)
        memory = _check_words(memory, "memory", self.memory_size, "N", self.word_size)
        keys = _check_words(keys, "keys", None, "H", self.word_size)
        candidates, valid = self.query(state, keys)
        words = tf.gather(memory, tf.maximum(candidates, 0), batch_dims=1)  # [B, H, L*C, W]
        similarity = cosine_similarity(tf.cast(keys, memory.dtype), words)
        # Fallback slots 0..k-1 rank below every valid candidate, in slot order.
        fallback = tf.broadcast_to(tf.range(k), tf.concat([tf.shape(candidates)[:2], [k]], 0))
        taken = tf.reduce_any(
            tf.equal(fallback[..., :, None], candidates[..., None, :]) & valid[..., None, :],
            axis=-1,
        )
        fallback_score = tf.broadcast_to(
            tf.cast(-2 - tf.range(k), similarity.dtype), tf.shape(taken)
        )
        excluded = tf.constant(-math.inf, similarity.dtype)
        scores = tf.concat(
            [tf.where(valid, similarity, excluded), tf.where(taken, excluded, fallback_score)],
            axis=-1,
        )
        _, best = tf.math.top_k(scores, k=k)
        return tf.gather(tf.concat([candidates, fallback], -1), best, batch_dims=2)

    def call(self, inputs, k=4):
        memory, keys = inputs
        keys = tf.cast(_check_words(keys, "keys", None, "H", self.word_size), memory.dtype)
        slots = self.nearest(self.initial_state(memory), memory, keys, k)
        neighbours = tf.gather(memory, slots, batch_dims=1)  # [B, H, k, W]
        return neighbours, cosine_similarity(keys, neighbours)

    def _check_k(self, k):
        k = check_int(k, "k")
        if k > min(self.memory_size, self.num_candidates):
            raise ValueError(
                f"k: expected at most min(memory_size, num_tables * bucket_size) = "
                f"{min(self.memory_size, self.num_candidates)}, got {k}."
            )
        return k

    def _check_slots(self, slots, memory_rows):
        slots = tf.convert_to_tensor(slots)
        if not slots.dtype.is_integer:
            raise TypeError(f"slots: expected integer slot ids, got {slots.dtype.name}.")
        if slots.shape.rank != 2 or not slots.shape.is_compatible_with(memory_rows.shape[:2]):
            raise ValueError(
                f"slots: expected shape [batch, M] = {memory_rows.shape[:2]} (the rows' "
                f"leading axes), got {slots.shape}."
            )
        return tf.cast(slots, tf.int32)

    @staticmethod
    def _is_indexed(state, slots, codes, positions):
        """bool [B, L, P]: slot ids [B, L, P] are indexed at (codes, positions) [B, L, P]."""
        safe = tf.maximum(slots, 0)
        return (
            (slots >= 0)
            & tf.equal(tf.gather(state.codes, safe, batch_dims=2), codes)
            & tf.equal(tf.gather(state.positions, safe, batch_dims=2), positions)
        )

    def get_config(self):
        return {
            **super().get_config(),
            "memory_size": self.memory_size,
            "word_size": self.word_size,
            "num_tables": self.num_tables,
            "num_bits": self.num_bits,
            "bucket_size": self.bucket_size,
            "seed": self.seed,
        }
