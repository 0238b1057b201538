"""Data dependencies that let XLA update loop-carried tensors in place.

Inside a compiled `tf.while_loop`, XLA writes a scatter into the buffer of
the tensor it updates, instead of copying all of it, only when it can prove
that every gather from that tensor runs before the scatter. A data path from
the gathered values to the scattered ones is what proves it. When the
values to scatter do not depend on a gather, `after` adds such a path,
leaving the values unchanged: this is what keeps the O(K) steps of
`tfgen.layers.SparseMemory` and `tfgen.layers.LSHIndex` from copying an
O(N) memory at every step.
"""

import tensorflow as tf


def after(values, dependency):
    """`values`, with a data dependency on `dependency` that XLA cannot remove.

    Args:
      values: a numeric tensor.
      dependency: a tensor (any dtype castable to `values.dtype`, e.g. a gather
        that must run before `values` are scattered).

    Returns:
      `values`, unchanged for every input met in practice: an entry is replaced
      by zero only if it equals the smallest value of its dtype and so does the
      first entry of `dependency`.
    """
    lowest = values.dtype.min
    first = tf.reshape(tf.cast(dependency, values.dtype), [-1])[:1]
    return tf.where(
        tf.equal(first, lowest) & tf.equal(values, lowest), tf.zeros_like(values), values
    )
