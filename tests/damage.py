"""Damaged checkpoint files, for the fault tests of training and export."""

import tensorflow as tf

KINDS = ("truncate", "flip")


def damage_checkpoint(prefix, how):
    """Truncates the data file of checkpoint `prefix` to half, or flips bytes in its second half.

    Args:
      prefix: a checkpoint prefix (`.../ckpt-N`) with one data file.
      how: one of `KINDS`.

    Returns:
      The path of the damaged data file.
    """
    (data,) = tf.io.gfile.glob(prefix + ".data-*")
    with open(data, "rb") as f:
        content = bytearray(f.read())
    if how == "truncate":
        content = content[: len(content) // 2]
    else:
        middle = slice(len(content) // 2, None, 97)
        content[middle] = bytes(b ^ 0xFF for b in content[middle])
    with open(data, "wb") as f:
        f.write(content)
    return data
