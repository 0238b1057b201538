"""A store of training-set codes with brute-force K-nearest-neighbour search.

Associative Compression Networks (Graves, Menick and van den Oord 2018, arXiv
1804.02476, Sec. 3) condition the prior of each example on the code of a
neighbour drawn from `KNN(x)`, the K nearest Euclidean neighbours of its code
among the codes of all the training data, the example itself excluded. The
codes change as the encoder trains, so the store is refreshed with the codes
of every training batch.

`CodeIndex` keeps those codes in non-trainable variables, keyed by a
fingerprint of each example (`image_fingerprint`: an exact integer projection
of its pixels). Keys make the index independent of the input pipeline: a batch
needs no example index to update its rows, the example itself is recognised
(and excluded from its own neighbours) at training and at serving time, and
identical images share a row.
"""

import numpy as np
import tensorflow as tf

from tfgen.checks import check_int

_FINGERPRINT_SEED = 1804_02476
_MAX_PIXEL_BITS = 8  # pixel values in [0, 256)


def _fingerprint_weights(num_pixels):
    """Fixed random int64 weights [P] whose weighted pixel sums cannot overflow int64."""
    bits = 62 - _MAX_PIXEL_BITS - int(num_pixels).bit_length()
    if bits < 24:
        raise ValueError(
            f"image_fingerprint: expected at most 2**30 pixels per example, got {num_pixels}."
        )
    rng = np.random.RandomState(_FINGERPRINT_SEED)
    return rng.randint(1, 2**bits, size=num_pixels, dtype=np.int64)


def image_fingerprint(images):
    """An int64 key per example: a fixed random integer projection of its pixels.

    `key = sum_i x_i w_i` with fixed random integer weights `w_i` below
    `2**(54 - bits(P))` for P pixels per example, so the sum is exact (no
    overflow, no rounding, the same in any order, with or without XLA). Two
    different images get the same key only if their difference is orthogonal
    to the random weights, which for 28x28 images happens with probability
    about `2**-44` per pair.

    Args:
      images: integer tensor [batch, ...] with values in [0, 256).

    Returns:
      int64 tensor [batch].

    Example:

    >>> a = tf.constant([[[0, 1], [1, 0]], [[0, 1], [1, 0]], [[1, 1], [0, 0]]])
    >>> key = image_fingerprint(a)
    >>> bool(key[0] == key[1]), bool(key[0] == key[2])
    (True, False)
    """
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_integer:
        raise TypeError(f"image_fingerprint: expected integer pixels, got {images.dtype.name}.")
    if (
        images.shape.rank is None
        or images.shape.rank < 2
        or not images.shape[1:].is_fully_defined()
    ):
        raise ValueError(
            f"image_fingerprint: expected a [batch, ...] tensor with a known example "
            f"shape, got shape {images.shape}."
        )
    num_pixels = int(np.prod(images.shape[1:]))
    flat = tf.reshape(tf.cast(images, tf.int64), [-1, num_pixels])
    return tf.reduce_sum(flat * tf.constant(_fingerprint_weights(num_pixels)), axis=1)


@tf.keras.saving.register_keras_serializable(package="tfgen")
class CodeIndex(tf.keras.layers.Layer):
    """Stored codes of the training set and their K nearest neighbours by brute force.

    The layer holds up to `capacity` codes [capacity, D] with their example
    keys (`image_fingerprint`) in non-trainable variables; `size` rows are
    filled. `update(codes, keys)` writes a batch of codes: a key already
    stored replaces its row's code, a new key takes the next free row (keys
    beyond `capacity` are dropped). Calling the layer finds, for each query
    code, the `num_neighbours` filled rows nearest in squared Euclidean
    distance (`|q|^2 - 2 q.c + |c|^2` for all rows at once, then `top_k`),
    leaving out the rows whose key is the query's own: the example itself is
    never its own neighbour.

    Under a `tf.distribute` strategy the batch is gathered from all replicas
    and every replica writes the same rows (the variables are mirrored with
    `ONLY_FIRST_REPLICA` aggregation).

    Reference:
      Graves, Menick and van den Oord 2018, "Associative Compression Networks
      for Representation Learning", arXiv 1804.02476, Sec. 3 (`KNN(x)`: the K
      nearest Euclidean neighbours of the code c among all the codes for the
      training data).

    Args:
      capacity: int N, the number of codes the index can hold (the size of
        the training set).
      code_dim: int D, the size of a code.
      num_neighbours: int K < N, how many nearest codes a query returns.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, D], the query codes.
      keys: optional int64 tensor [batch], the queries' example keys; stored
        rows with the same key are excluded.

    Returns:
      A pair `(neighbours, squared_distances)`: float tensors [batch, K, D]
      and [batch, K], nearest first. Where fewer than K rows are available
      the missing neighbours are zero codes at distance `inf`.

    Example:

    >>> index = CodeIndex(capacity=4, code_dim=2, num_neighbours=1)
    >>> index.update(tf.constant([[0.0, 0.0], [3.0, 0.0]]), tf.constant([10, 11], tf.int64))
    >>> neighbours, distances = index(tf.constant([[0.5, 0.0]]), keys=tf.constant([10], tf.int64))
    >>> neighbours.numpy(), distances.numpy()  # the row with key 10 is the query itself
    (array([[[3., 0.]]], dtype=float32), array([[6.25]], dtype=float32))
    """

    # ACN (1804.02476) Sec. 3: KNN(x), the K nearest training codes to c, x itself excluded.
    def __init__(self, capacity, code_dim, num_neighbours=5, **kwargs):
        super().__init__(**kwargs)
        self.capacity = check_int(capacity, "capacity", 2)
        self.code_dim = check_int(code_dim, "code_dim", 1)
        self.num_neighbours = check_int(num_neighbours, "num_neighbours", 1)
        if self.num_neighbours >= self.capacity:
            raise ValueError(
                f"num_neighbours: expected fewer than capacity={self.capacity} "
                f"neighbours, got {self.num_neighbours}."
            )

    def build(self, input_shape=None):
        def state(name, shape, dtype):
            return self.add_weight(
                name=name,
                shape=shape,
                dtype=dtype,
                initializer="zeros",
                trainable=False,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )

        self.codes = state("codes", (self.capacity, self.code_dim), self.dtype)
        self.keys = state("keys", (self.capacity,), tf.int64)
        self.size = state("size", (), tf.int32)
        super().build(input_shape)

    def _check_codes(self, codes, name):
        codes = tf.convert_to_tensor(codes, self.dtype)
        if codes.shape.rank != 2 or codes.shape[-1] != self.code_dim:
            raise ValueError(f"{name}: expected shape [batch, {self.code_dim}], got {codes.shape}.")
        return codes

    def _check_keys(self, keys, batch_shape):
        keys = tf.convert_to_tensor(keys)
        if keys.dtype != tf.int64:
            raise TypeError(f"keys: expected int64 example keys, got {keys.dtype.name}.")
        if keys.shape.rank != 1 or not keys.shape.is_compatible_with(batch_shape):
            raise ValueError(f"keys: expected shape {batch_shape}, got {keys.shape}.")
        return keys

    def _filled(self):
        """Boolean [N]: the rows that hold a code."""
        return tf.range(self.capacity) < self.size

    def search(self, queries, keys=None):
        """Rows [B, K] (int32) of the K nearest stored codes and squared distances [B, K].

        Unavailable neighbours (fewer than K filled rows besides the query's
        own) have row index -1 and distance `inf`.
        """
        if not self.built:
            self.build()
        queries = self._check_codes(queries, "queries")
        codes = tf.convert_to_tensor(self.codes)
        # All squared distances at once: |q|^2 - 2 q.c + |c|^2, [B, N].
        distances = (
            tf.reduce_sum(tf.square(queries), axis=1, keepdims=True)
            - 2.0 * tf.matmul(queries, codes, transpose_b=True)
            + tf.reduce_sum(tf.square(codes), axis=1)[None, :]
        )
        excluded = tf.logical_not(self._filled())[None, :]
        if keys is not None:
            keys = self._check_keys(keys, queries.shape[:1])
            excluded = tf.logical_or(excluded, tf.equal(keys[:, None], self.keys[None, :]))
        distances = tf.where(excluded, np.inf, tf.maximum(distances, 0.0))
        negative, rows = tf.math.top_k(-distances, k=self.num_neighbours)
        available = tf.math.is_finite(negative)
        return tf.where(available, rows, -1), -negative

    def gather(self, rows):
        """Stored codes [..., D] of rows [...] (int); row -1 gives a zero code."""
        rows = tf.convert_to_tensor(rows, tf.int32)
        codes = tf.gather(self.codes, tf.maximum(rows, 0))
        return tf.where((rows >= 0)[..., None], codes, tf.zeros_like(codes))

    def call(self, inputs, keys=None):
        rows, distances = self.search(inputs, keys)
        return self.gather(rows), distances

    def update(self, codes, keys):
        """Writes codes [B, D] under their example keys int64 [B] (replace, else append)."""
        if not self.built:
            self.build()
        codes = self._check_codes(codes, "codes")
        keys = self._check_keys(keys, codes.shape[:1])
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            codes, keys = context.all_gather(codes, axis=0), context.all_gather(keys, axis=0)
        rows, size = self._rows_for(keys)
        # Row N is a sink for keys beyond the capacity; it is dropped.
        stored_codes = tf.concat(
            [tf.convert_to_tensor(self.codes), tf.zeros([1, self.code_dim], self.codes.dtype)],
            axis=0,
        )
        stored_keys = tf.concat([tf.convert_to_tensor(self.keys), tf.zeros([1], tf.int64)], axis=0)
        self.codes.assign(tf.tensor_scatter_nd_update(stored_codes, rows[:, None], codes)[:-1])
        self.keys.assign(tf.tensor_scatter_nd_update(stored_keys, rows[:, None], keys)[:-1])
        self.size.assign(size)

    def _rows_for(self, keys):
        """The row [B] each key writes to (N when full) and the new number of filled rows."""
        match = tf.logical_and(tf.equal(keys[:, None], self.keys[None, :]), self._filled()[None, :])
        found = tf.reduce_any(match, axis=1)
        # A key seen earlier in the same batch shares that earlier example's row.
        same = tf.equal(keys[:, None], keys[None, :])
        batch = tf.shape(keys)[0]
        earlier = tf.linalg.band_part(tf.ones([batch, batch], tf.bool), -1, 0)
        earlier = tf.logical_and(earlier, tf.logical_not(tf.eye(batch, dtype=tf.bool)))
        first = tf.logical_not(tf.reduce_any(tf.logical_and(same, earlier), axis=1))
        new = tf.cast(tf.logical_and(first, tf.logical_not(found)), tf.int32)
        appended = self.size + tf.cumsum(new, exclusive=True)  # the next free rows, in order
        first_of = tf.argmax(tf.cast(same, tf.int32), axis=1, output_type=tf.int32)
        rows = tf.where(
            found,
            tf.argmax(tf.cast(match, tf.int32), axis=1, output_type=tf.int32),
            tf.gather(appended, first_of),
        )
        return tf.minimum(rows, self.capacity), tf.minimum(
            self.size + tf.reduce_sum(new), self.capacity
        )

    def reset(self):
        """Empties the index (`size` = 0); stored values are overwritten as rows refill."""
        if not self.built:
            self.build()
        self.size.assign(0)

    def compute_output_shape(self, input_shape):
        batch = tf.TensorShape(input_shape)[:1]
        return (
            batch.concatenate([self.num_neighbours, self.code_dim]),
            batch.concatenate([self.num_neighbours]),
        )

    def get_config(self):
        return {
            **super().get_config(),
            "capacity": self.capacity,
            "code_dim": self.code_dim,
            "num_neighbours": self.num_neighbours,
        }
