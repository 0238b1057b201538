"""The least recently accessed memory word, found without a scan of the memory.

Sparse Access Memory (Rae et al. 2016, arXiv 1610.09027, Supp. A) writes to
the word whose last access (a read or write weight above delta) is the
oldest. `argmin` over the last access times costs O(N) per step; this module
finds the same word in amortised O(1) per access, as an LRU cache does:

- words never accessed (last access time 0) come first, lowest index first:
  a pointer `fresh` walks up past words that have been accessed;
- every access is appended, with its time, to a queue in time order (the
  accesses of one step by increasing word index); an entry is stale once its
  word is accessed again. The oldest live entry is the least recently
  accessed word, so stale entries are dropped from the front until the front
  is live.

Each entry is appended and dropped once and the pointer moves at most N
times, so a sequence of T steps of M accesses costs O(T M + N) in all. The
result equals `argmin(last_access)` with ties broken toward the lower index,
`tfgen.layers.memory.least_recently_accessed`.
"""

import collections
import functools

import tensorflow as tf

from tfgen.layers.scatter import scatter_per_example

UsageState = collections.namedtuple(
    "UsageState", ["last_access", "queue", "queue_times", "head", "tail", "fresh"]
)
UsageState.__doc__ = """The access record of B memories of N words, for T steps of M accesses.

* `last_access`: float [B, N], the last step at which each word was accessed (0: never).
* `queue`, `queue_times`: int32 and float [B, T * M], the accesses in time order.
* `head`, `tail`: int32 [B], the first live-or-unchecked entry and the end of the queue.
* `fresh`: int32 [B], no word below it has a last access time of 0.
"""


def initial_usage(batch_size, memory_size, capacity, dtype=tf.float32):
    """The record of memories never accessed, with room for `capacity` accesses."""
    return UsageState(
        last_access=tf.zeros([batch_size, memory_size], dtype),
        queue=tf.zeros([batch_size, capacity], tf.int32),
        queue_times=tf.zeros([batch_size, capacity], dtype),
        head=tf.zeros([batch_size], tf.int32),
        tail=tf.zeros([batch_size], tf.int32),
        fresh=tf.zeros([batch_size], tf.int32),
    )


def _advance(position, moving):
    """`position + 1` where `moving`, for each memory."""
    return position + tf.cast(moving, tf.int32)


def least_recently_used(state):
    """The least recently accessed word of each memory (the first on ties).

    Args:
      state: a `UsageState`.

    Returns:
      `(state, words)`: the state with stale queue entries dropped and the
      fresh pointer moved on, and int32 [B] word indices.
    """
    memory_size = tf.shape(state.last_access)[1]
    last_access = state.last_access

    def fresh_taken(fresh):
        index = tf.minimum(fresh, memory_size - 1)[:, None]
        used = tf.gather(last_access, index, batch_dims=1)[:, 0] > 0
        return (fresh < memory_size) & used

    fresh = tf.while_loop(
        lambda fresh: tf.reduce_any(fresh_taken(fresh)),
        lambda fresh: [_advance(fresh, fresh_taken(fresh))],
        [state.fresh],
    )[0]

    def stale(head):
        index = tf.minimum(head, tf.shape(state.queue)[1] - 1)[:, None]
        word = tf.gather(state.queue, index, batch_dims=1)
        live = tf.equal(
            tf.gather(last_access, word, batch_dims=1),
            tf.gather(state.queue_times, index, batch_dims=1),
        )[:, 0]
        return (head < state.tail) & ~live

    head = tf.while_loop(
        lambda head: tf.reduce_any(stale(head)),
        lambda head: [_advance(head, stale(head))],
        [state.head],
    )[0]
    last = tf.shape(state.queue)[1] - 1
    oldest = tf.gather(state.queue, tf.minimum(head, last)[:, None], batch_dims=1)
    words = tf.where(fresh < memory_size, fresh, oldest[:, 0])
    return state._replace(head=head, fresh=fresh), words


def record_access(state, words, accessed, time):
    """Stamps the words accessed at step `time` and appends them to the queue.

    Args:
      state: a `UsageState`.
      words: int32 [B, M], the words touched by the step (repeats allowed).
      accessed: bool [B, M], whether each counts as accessed (its summed
        weight is above delta).
      time: scalar, the step (from 1).

    Returns:
      The new `UsageState`.
    """
    time = tf.cast(time, state.last_access.dtype)
    # Supp. A: the last access time of every word whose weights exceed delta.
    stamps = tf.where(accessed, time, -1.0)
    last_access = scatter_per_example(tf.tensor_scatter_nd_max, state.last_access, [words], stamps)
    # Appended by increasing word index, so that ties go to the lower index;
    # entries not accessed are appended stale (time -1).
    order = tf.argsort(words, axis=-1, stable=True)
    words = tf.gather(words, order, batch_dims=1)
    stamps = tf.gather(stamps, order, batch_dims=1)
    places = [state.tail[:, None] + tf.range(tf.shape(words)[1])]
    update = functools.partial(scatter_per_example, tf.tensor_scatter_nd_update)
    return state._replace(
        last_access=last_access,
        queue=update(state.queue, places, words),
        queue_times=update(state.queue_times, places, stamps),
        tail=state.tail + tf.shape(words)[1],
    )
