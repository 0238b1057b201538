"""Scatters into batched tensors, with the leading (batch, ...) indices filled in."""

import tensorflow as tf


def scatter_per_example(function, tensor, indices, updates, leading_axes=1):
    """`function(tensor, [i_0, ..., i_{a-1}, *indices], updates)` at every leading position.

    Args:
      function: a `tf.tensor_scatter_nd_*` (update, add, max, ...).
      tensor: [D_0, ..., D_{a-1}, ...], the tensor to update.
      indices: list of int32 tensors [D_0, ..., D_{a-1}, M...], each the index
        along one axis after the a leading ones.
      updates: [D_0, ..., D_{a-1}, M..., ...], the values written.
      leading_axes: int a, the axes (batch, table, ...) whose index is the
        position of the update itself.

    Returns:
      The updated tensor.

    Example:

    >>> memory, words = tf.zeros([2, 3]), tf.constant([[2], [0]])
    >>> add = tf.tensor_scatter_nd_add
    >>> scatter_per_example(add, memory, [words], tf.constant([[1.0], [5.0]])).numpy()
    array([[0., 0., 1.],
           [5., 0., 0.]], dtype=float32)
    """
    shape = tf.shape(indices[0])
    rank = len(indices[0].shape)
    leading = [
        tf.broadcast_to(
            tf.reshape(tf.range(shape[axis]), [-1 if d == axis else 1 for d in range(rank)]), shape
        )
        for axis in range(leading_axes)
    ]
    return function(tensor, tf.stack([*leading, *indices], axis=-1), updates)
