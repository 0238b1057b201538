"""Synthetic algorithmic tasks as endless seeded streams.

Each task is a pure function of a stateless-RNG seed, mapped over
`tf.data.Dataset.counter()`: example `i` of split `s` is drawn from the seed
`(seed, task, s, i)`, so streams are reproducible, the `"train"` and `"test"`
streams differ, and the pipeline runs in parallel without Python. Examples are
i.i.d., so `shuffle` and `repeat` have nothing to do; `num_examples` is `None`.
Sequences are padded to a fixed length; `mask` marks the steps that carry a
target. Tasks with a symbol vocabulary report its size as `num_categories`, and
classification tasks their number of classes as `num_labels`, in `info`.

- `parity`: ACT (Graves 2016, arXiv:1603.08983) section 3.1.
- `logic`: ACT section 3.2.
- `addition`: ACT section 3.3.
- `sort`: ACT section 3.4.
- `long_addition`: Grid LSTM (Kalchbrenner et al. 2015, arXiv:1507.01526),
  the 15-digit integer addition experiment.
- `copy`: Neural Turing Machines (Graves et al. 2014, arXiv:1410.5401)
  section 4.1, as also used by SAM (Rae et al. 2016, arXiv:1610.09027).
- `repeat_copy`: Neural Turing Machines section 4.2.
- `associative_recall`: Neural Turing Machines section 4.3, as also used by SAM.
- `episodic_copy`, `xml`, `variable_assignment`: Associative LSTM (Danihelka
  et al. 2016, arXiv:1602.03032), the experiments of the same names.
"""

import tensorflow as tf

from tfgen.data import _common

SPLITS = ("train", "test")

# 1603.08983 Table 1: the ten logic gates, in the paper's order (one-hot index 0..9).
LOGIC_GATES = ("NOR", "Xq", "ABJ", "XOR", "NAND", "AND", "XNOR", "if/then", "then/if", "OR")
# 1603.08983 Table 1: each gate's truth value at (P, Q) = (F, F), (F, T), (T, F), (T, T).
_TRUTH_TABLES = (
    (1, 0, 0, 0),
    (0, 1, 0, 0),
    (0, 0, 1, 0),
    (0, 1, 1, 0),
    (1, 1, 1, 0),
    (0, 0, 0, 1),
    (1, 0, 0, 1),
    (1, 1, 0, 1),
    (1, 0, 1, 1),
    (0, 1, 1, 1),
)
# Symbol ids of `long_addition`: the ten digits, then the delimiter / end-of-result symbol.
LONG_ADDITION_SYMBOLS = "0123456789-"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
# Character ids of `xml`: index i is character XML_ALPHABET[i].
XML_ALPHABET = "<>/" + _LETTERS
_XML_OPEN, _XML_CLOSE, _XML_SLASH, _XML_A, _XML_Z = (XML_ALPHABET.index(char) for char in "<>/az")
# Character ids of `variable_assignment`; id 0 (a space) pads sequences.
VARIABLE_ASSIGNMENT_ALPHABET = " (),." + _LETTERS
_OPEN, _CLOSE, _COMMA, _STOP, _STORE, _QUERY, _FIRST_LETTER, _LAST_LETTER = (
    VARIABLE_ASSIGNMENT_ALPHABET.index(char) for char in "(),.sqaz"
)


def _split_seeds(seed, num):
    return tf.unstack(tf.random.experimental.stateless_split(seed, num))


def _uniform_int(shape, seed, low, high):
    """Ints uniform in `[low, high]` (inclusive)."""
    return tf.random.stateless_uniform(shape, seed, low, high + 1, tf.int32)


def parity_example(seed, num_bits):
    """One parity example (ACT section 3.1).

    "The input vectors had 64 elements, of which a random number from 1 to 64
    were randomly set to 1 or -1 and the rest were set to 0. The corresponding
    target was 1 if there was an odd number of ones and 0 if there was an even
    number of ones." The set entries are at random positions.

    Args:
      seed: int64 `[2]` stateless seed.
      num_bits: input size (64 in the paper).

    Returns:
      `{"inputs": float32 [num_bits], "target": int32 []}`.
    """
    count_seed, position_seed, sign_seed = _split_seeds(seed, 3)
    count = _uniform_int([], count_seed, 1, num_bits)
    positions = tf.random.experimental.stateless_shuffle(tf.range(num_bits), position_seed)
    is_set = tf.scatter_nd(positions[:, None], tf.range(num_bits) < count, [num_bits])
    signs = 2.0 * tf.cast(_uniform_int([num_bits], sign_seed, 0, 1), tf.float32) - 1.0
    inputs = tf.where(is_set, signs, 0.0)
    target = tf.reduce_sum(tf.cast(inputs > 0, tf.int32)) % 2
    return {"inputs": inputs, "target": target}


def _decimal_digits(values, width):
    """Most-significant-first digits of non-negative int64 `values` `[n]`.

    Returns int32 `[n, width]`: the digits of each value (`0` is written `"0"`),
    then the end marker 10 in the unused positions.
    """
    powers = tf.constant([10**k for k in range(width)], tf.int64)
    length = tf.maximum(tf.reduce_sum(tf.cast(values[:, None] >= powers, tf.int32), -1), 1)
    position = tf.range(width)[None, :]
    exponent = tf.maximum(length[:, None] - 1 - position, 0)
    digits = values[:, None] // tf.gather(powers, exponent) % 10
    return tf.where(position < length[:, None], tf.cast(digits, tf.int32), 10)


def addition_example(seed, num_digits, seq_len):
    """One addition example (ACT section 3.3).

    A sequence of 1 to `seq_len` numbers, each of 1 to `num_digits` decimal
    digits drawn uniformly from 0..9 (so leading zeros occur). The input at
    each step is the one-hot encodings of the number's digits, most significant
    first, in blocks of 10, the unused blocks zero. The target at each step is
    the cumulative sum written as `num_digits + 1` digit classes, most
    significant first, class 10 marking positions after the end of the number.
    "There is no target for the first vector in the sequence", so `mask` is 0
    at step 0 and after the sequence ends, 1 elsewhere; padded steps have zero
    inputs and targets 10.

    Args:
      seed: int64 `[2]` stateless seed.
      num_digits: most digits per number (5 in the paper).
      seq_len: most numbers per sequence (5 in the paper).

    Returns:
      `{"inputs": float32 [seq_len, 10 * num_digits],
        "targets": int32 [seq_len, num_digits + 1], "mask": float32 [seq_len]}`.
    """
    length_seed, size_seed, digit_seed = _split_seeds(seed, 3)
    length = _uniform_int([], length_seed, 1, seq_len)
    sizes = _uniform_int([seq_len], size_seed, 1, num_digits)
    digits = _uniform_int([seq_len, num_digits], digit_seed, 0, 9)
    in_sequence = tf.range(seq_len) < length
    used = (tf.range(num_digits)[None, :] < sizes[:, None]) & in_sequence[:, None]
    inputs = tf.one_hot(digits, 10) * tf.cast(used, tf.float32)[..., None]
    powers = tf.constant([10**k for k in range(num_digits)], tf.int64)
    place = tf.gather(powers, tf.maximum(sizes[:, None] - 1 - tf.range(num_digits)[None, :], 0))
    values = tf.reduce_sum(tf.where(used, tf.cast(digits, tf.int64) * place, 0), -1)
    targets = _decimal_digits(tf.cumsum(values), num_digits + 1)
    return {
        "inputs": tf.reshape(inputs, [seq_len, 10 * num_digits]),
        "targets": tf.where(in_sequence[:, None], targets, 10),
        "mask": tf.cast(in_sequence & (tf.range(seq_len) > 0), tf.float32),
    }


def copy_example(seed, num_bits, max_len):
    """One copy example (NTM section 4.1).

    A sequence of 1 to `max_len` random binary vectors of `num_bits` bits,
    then a delimiter flag on an extra input channel; the network must then
    output the sequence, while its input is zero. Sequences are padded to
    `2 * max_len + 1` steps; `mask` is 1 exactly on the output steps.

    Args:
      seed: int64 `[2]` stateless seed.
      num_bits: bits per vector (8 in the paper).
      max_len: longest sequence (20 in the paper).

    Returns:
      `{"inputs": float32 [T, num_bits + 1], "targets": float32 [T, num_bits],
        "mask": float32 [T]}` with `T = 2 * max_len + 1`.
    """
    steps = 2 * max_len + 1
    length_seed, bits_seed = _split_seeds(seed, 2)
    length = _uniform_int([], length_seed, 1, max_len)
    bits = tf.cast(_uniform_int([steps, num_bits], bits_seed, 0, 1), tf.float32)
    time = tf.range(steps)
    reading = time < length
    writing = (time > length) & (time <= 2 * length)
    inputs = tf.concat(
        [tf.where(reading[:, None], bits, 0.0), tf.cast(time == length, tf.float32)[:, None]], -1
    )
    copied = tf.gather(bits, tf.maximum(time - length - 1, 0))
    return {
        "inputs": inputs,
        "targets": tf.where(writing[:, None], copied, 0.0),
        "mask": tf.cast(writing, tf.float32),
    }


def _flatten_rows(rows, lengths):
    """Concatenates the first `lengths[i]` entries of each row of `rows` `[n, m]`."""
    return tf.RaggedTensor.from_tensor(rows, lengths=lengths).flat_values


def _pad_to(values, length, value=0):
    """Pads (or cuts) the 1-D `values` to the static `length` with `value`."""
    values = values[:length]
    padded = tf.pad(values, [[0, length - tf.shape(values)[0]]], constant_values=value)
    return tf.reshape(padded, [length])


def _apply_gates(b0, b1, gates, used):
    """1603.08983 Eq. 21 for every step at once: `b_{i+1} = T_i(b_i, b_{i-1})`.

    Args:
      b0, b1: int32 `[steps]`, the two initial bits of each step.
      gates: int32 `[steps, max_gates]`, gate indices into `LOGIC_GATES`.
      used: bool `[steps, max_gates]`, which gates each step applies.

    Returns:
      int32 `[steps]`: `b_{B+1}`, the output of each step's last gate.
    """
    tables = tf.constant(_TRUTH_TABLES, tf.int32)

    def apply(bits, gate_and_used):
        previous, current = bits
        gate, on = gate_and_used
        # 1603.08983 Table 1, with P = b_i and Q = b_{i-1}.
        output = tf.gather_nd(tables, tf.stack([gate, 2 * current + previous], -1))
        return tf.where(on, current, previous), tf.where(on, output, current)

    elements = (tf.transpose(gates), tf.transpose(used))
    return tf.foldl(apply, elements, initializer=(b0, b1))[1]


def logic_example(seed, max_len, max_gates):
    """One logic example (ACT section 3.2).

    A sequence of 1 to `max_len` steps. Each step's input is
    `2 + 10 * max_gates` wide: two bits `(b_0, b_1)`, then `max_gates` chunks
    of size 10. The first `B` chunks (`B` uniform in 1..`max_gates`) hold
    one-hot indices of gates drawn uniformly from the ten of `LOGIC_GATES`;
    the rest are zero. The target is `b_{B+1}`, the result of applying the
    gates in turn (`b_{i+1} = T_i(b_i, b_{i-1})`, `P = b_i`, `Q = b_{i-1}`).
    At the first step both bits are random and given; at later steps only
    `b_1` is random, while `b_0` is the previous step's target and its input
    element is 0. `mask` is 1 on the steps of the sequence; padded steps have
    zero inputs and target 0.

    Args:
      seed: int64 `[2]` stateless seed.
      max_len: most steps per sequence (10 in the paper).
      max_gates: most gates per step (10 in the paper, giving 102 inputs).

    Returns:
      `{"inputs": float32 [max_len, 2 + 10 * max_gates],
        "targets": int32 [max_len], "mask": float32 [max_len]}`.
    """
    length_seed, count_seed, gate_seed, bit_seed = _split_seeds(seed, 4)
    length = _uniform_int([], length_seed, 1, max_len)
    counts = _uniform_int([max_len], count_seed, 1, max_gates)
    gates = _uniform_int([max_len, max_gates], gate_seed, 0, len(LOGIC_GATES) - 1)
    bits = _uniform_int([max_len + 1], bit_seed, 0, 1)
    first_b0, b1 = bits[0], bits[1:]
    used = tf.range(max_gates)[None, :] < counts[:, None]
    # 1603.08983 Sec. 3.2: the chain's output for either value of the carried bit b_0.
    outputs = [_apply_gates(tf.fill([max_len], bit), b1, gates, used) for bit in (0, 1)]
    targets = tf.scan(
        lambda carried, output: tf.where(carried == 1, output[1], output[0]),
        tf.stack(outputs, -1),
        initializer=first_b0,
    )
    in_sequence = tf.range(max_len) < length
    # 1603.08983 Sec. 3.2: b_0 is given at the first step only, b_1 at every step.
    b0 = tf.one_hot(0, max_len, on_value=first_b0, off_value=0, dtype=tf.int32)
    chunks = tf.one_hot(gates, len(LOGIC_GATES)) * tf.cast(used, tf.float32)[..., None]
    inputs = tf.concat(
        [tf.cast(tf.stack([b0, b1], -1), tf.float32), tf.reshape(chunks, [max_len, -1])], -1
    )
    return {
        "inputs": inputs * tf.cast(in_sequence, tf.float32)[:, None],
        "targets": tf.where(in_sequence, targets, 0),
        "mask": tf.cast(in_sequence, tf.float32),
    }


def sort_example(seed, max_len):
    """One sort example (ACT section 3.4).

    A sequence of 2 to `max_len` numbers drawn from N(0, 1) is presented one
    number per step; each size-2 input is the number and a flag that is 1 at
    the last number ("end of sequence to be sorted"). No targets are present
    until the sequence ends; then, one per step, the targets are the indices
    (0-based, into the input sequence) of the numbers in ascending order,
    ties broken by position. Inputs after the sequence are zero. Sequences are
    padded to `2 * max_len` steps; `mask` is 1 exactly on the output steps.

    Args:
      seed: int64 `[2]` stateless seed.
      max_len: most numbers per sequence (15 in the paper).

    Returns:
      `{"inputs": float32 [T, 2], "targets": int32 [T], "mask": float32 [T]}`
      with `T = 2 * max_len`.
    """
    steps = 2 * max_len
    length_seed, value_seed = _split_seeds(seed, 2)
    length = _uniform_int([], length_seed, 2, max_len)
    present = tf.range(max_len) < length
    values = tf.where(present, tf.random.stateless_normal([max_len], value_seed), 0.0)
    order = tf.argsort(tf.where(present, values, float("inf")), stable=True)
    time = tf.range(steps)
    writing = (time >= length) & (time < 2 * length)
    # 1603.08983 Fig. 16: a number and an end-of-sequence flag per step, then the indices.
    flag = tf.cast(time == length - 1, tf.float32)
    return {
        "inputs": tf.stack([tf.pad(values, [[0, max_len]]), flag], -1),
        "targets": tf.where(
            writing, tf.gather(order, tf.clip_by_value(time - length, 0, max_len - 1)), 0
        ),
        "mask": tf.cast(writing, tf.float32),
    }


def _number_digits(seed, sizes, width):
    """Random numbers of exactly `sizes` `[n]` decimal digits, written in rows `[n, width]`.

    Returns the int64 values and their most-significant-first digits (a
    leading digit 1..9 unless the number has one digit), padded with the
    delimiter symbol 10.
    """
    leading_seed, digit_seed = _split_seeds(seed, 2)
    leading = _uniform_int(sizes.shape, leading_seed, 1, 9)
    digits = _uniform_int([sizes.shape[0], width], digit_seed, 0, 9)
    position = tf.range(width)[None, :]
    digits = tf.where((position == 0) & (sizes[:, None] > 1), leading[:, None], digits)
    place = tf.constant([10**k for k in range(width)], tf.int64)
    exponent = tf.maximum(sizes[:, None] - 1 - position, 0)
    used = position < sizes[:, None]
    values = tf.reduce_sum(
        tf.where(used, tf.cast(digits, tf.int64) * tf.gather(place, exponent), 0), -1
    )
    return values, tf.where(used, digits, 10)


def long_addition_example(seed, num_digits, fixed_length):
    """One long-addition example (Grid LSTM, 15-digit integer addition).

    Symbols are the digits 0..9 and a delimiter `-` (id 10), one-hot encoded,
    one per step (`LONG_ADDITION_SYMBOLS`). The input is `-a-b-`: the two
    numbers most significant digit first between delimiters, then `-` at every
    later step; nothing predicted is fed back. From the step that reads the
    last delimiter, the targets are the digits of `a + b`, most significant
    first, then `-` as the end-of-result symbol; `mask` is 1 on exactly those
    steps. With `fixed_length` (the paper's setting) both numbers have exactly
    `num_digits` digits (a non-zero leading digit), so the sum has
    `num_digits` or `num_digits + 1`; otherwise each number's length is
    uniform in 1..`num_digits`. Targets off the mask are `-`.

    Args:
      seed: int64 `[2]` stateless seed.
      num_digits: digits per number (15 in the paper).
      fixed_length: whether both numbers have exactly `num_digits` digits.

    Returns:
      `{"inputs": float32 [T, 11], "targets": int32 [T], "mask": float32 [T]}`
      with `T = 3 * num_digits + 4`.
    """
    steps = 3 * num_digits + 4
    delimiter = len(LONG_ADDITION_SYMBOLS) - 1
    size_seed, number_seed = _split_seeds(seed, 2)
    if fixed_length:
        sizes = tf.fill([2], num_digits)
    else:
        sizes = _uniform_int([2], size_seed, 1, num_digits)
    values, digits = _number_digits(number_seed, sizes, num_digits)
    # 1507.01526: `-a-b-`, the numbers one digit per step between delimiter symbols.
    rows = tf.concat([tf.fill([2, 1], delimiter), digits], 1)
    question = tf.concat([_flatten_rows(rows, sizes + 1), [delimiter]], 0)
    # 1507.01526: the sum's digits, then the end-of-result symbol.
    total = _decimal_digits(tf.reduce_sum(values)[None], num_digits + 1)[0]
    answer = tf.concat([total, [delimiter]], 0)
    answer_start = tf.shape(question)[0] - 1
    answer_length = tf.reduce_sum(tf.cast(answer < delimiter, tf.int32)) + 1
    offset = tf.range(steps) - answer_start
    answering = (offset >= 0) & (offset < answer_length)
    targets = tf.where(
        answering, tf.gather(answer, tf.clip_by_value(offset, 0, num_digits + 1)), delimiter
    )
    return {
        "inputs": tf.one_hot(_pad_to(question, steps, delimiter), len(LONG_ADDITION_SYMBOLS)),
        "targets": targets,
        "mask": tf.cast(answering, tf.float32),
    }


def repeat_copy_example(seed, num_bits, max_len, max_repeats):
    """One repeat-copy example (NTM section 4.2).

    A sequence of 1 to `max_len` random binary vectors of `num_bits` bits, then
    one step carrying a delimiter flag (channel `num_bits`) and the number of
    repeats `r`, uniform in 1..`max_repeats`, on its own channel
    (`num_bits + 1`), normalised to mean zero and variance one over that
    uniform distribution. The network must then output the sequence `r` times
    in a row, while its input is zero, and then the end marker on an extra
    output channel (`num_bits`). Sequences are padded to
    `max_len * (max_repeats + 1) + 2` steps; `mask` is 1 exactly on the output
    steps (the copies and the end marker).

    Args:
      seed: int64 `[2]` stateless seed.
      num_bits: bits per vector (8 in the paper).
      max_len: longest sequence (10 in the paper).
      max_repeats: most repeats (10 in the paper).

    Returns:
      `{"inputs": float32 [T, num_bits + 2], "targets": float32 [T, num_bits + 1],
        "mask": float32 [T]}` with `T = max_len * (max_repeats + 1) + 2`.
    """
    steps = max_len * (max_repeats + 1) + 2
    length_seed, repeat_seed, bits_seed = _split_seeds(seed, 3)
    length = _uniform_int([], length_seed, 1, max_len)
    repeats = _uniform_int([], repeat_seed, 1, max_repeats)
    bits = tf.cast(_uniform_int([max_len, num_bits], bits_seed, 0, 1), tf.float32)
    time = tf.range(steps)
    reading = time < length
    # 1410.5401 Sec. 4.2: the repeat count normalised to mean 0, variance 1 (over 1..max_repeats).
    mean, std = (max_repeats + 1) / 2, ((max_repeats**2 - 1) / 12) ** 0.5
    count = tf.math.divide_no_nan(tf.cast(repeats, tf.float32) - mean, std)
    delimiter = tf.cast(time == length, tf.float32)
    sequence = (
        tf.gather(bits, tf.minimum(time, max_len - 1)) * tf.cast(reading, tf.float32)[:, None]
    )
    # 1410.5401 Sec. 4.2: the sequence `repeats` times, then the end marker.
    end = length * (repeats + 1) + 1
    writing = (time > length) & (time < end)
    copied = tf.gather(bits, tf.maximum(time - length - 1, 0) % length)
    return {
        "inputs": tf.concat(
            [sequence, delimiter[:, None], tf.where(time == length, count, 0.0)[:, None]], -1
        ),
        "targets": tf.concat(
            [tf.where(writing[:, None], copied, 0.0), tf.cast(time == end, tf.float32)[:, None]], -1
        ),
        "mask": tf.cast((time > length) & (time <= end), tf.float32),
    }


def associative_recall_example(seed, num_bits, item_len, min_items, max_items):
    """One associative-recall example (NTM section 4.3).

    An item is `item_len` random binary vectors of `num_bits` bits. The input
    is `n` items (`n` uniform in `min_items`..`max_items`), each preceded by
    one item-delimiter step (a flag on channel `num_bits`); then a query, one
    of the first `n - 1` items drawn uniformly, between two query-delimiter
    steps (a flag on channel `num_bits + 1`). The network must then output the
    item that followed the query item in the sequence, over `item_len` steps
    while its input is zero. Items are drawn independently, so the query item
    may occur twice (probability at most `(n - 1) / 2**(num_bits * item_len)`);
    the target is always the successor of the position the query was drawn
    from. Sequences are padded to `T = (max_items + 1) * (item_len + 1) +
    item_len + 1` steps, the length of an episode of `max_items` items;
    `mask` is 1 exactly on the answer steps, and targets are zero elsewhere.

    Args:
      seed: int64 `[2]` stateless seed.
      num_bits: bits per vector (6 in the paper).
      item_len: vectors per item (3 in the paper).
      min_items: fewest items per episode, at least 2 (2 in the paper).
      max_items: most items per episode (6 in the paper).

    Returns:
      `{"inputs": float32 [T, num_bits + 2], "targets": float32 [T, num_bits],
        "mask": float32 [T]}`.
    """
    span = item_len + 1
    steps = (max_items + 1) * span + item_len + 1
    count_seed, query_seed, bits_seed = _split_seeds(seed, 3)
    count = _uniform_int([], count_seed, min_items, max_items)
    query = _uniform_int([], query_seed, 0, count - 2)
    items = tf.cast(_uniform_int([max_items, item_len, num_bits], bits_seed, 0, 1), tf.float32)
    time = tf.range(steps)

    def vectors(item, offset):
        """Vector `offset` of item `item` where `0 <= offset < item_len`, zero elsewhere."""
        index = tf.stack([tf.broadcast_to(item, [steps]), offset], -1)
        rows = tf.gather_nd(items, tf.clip_by_value(index, 0, [max_items - 1, item_len - 1]))
        return tf.where(((offset >= 0) & (offset < item_len))[:, None], rows, 0.0)

    # 1410.5401 Sec. 4.3: the items, each bounded by delimiters, then the query between its own.
    query_start = count * span
    answer_start = query_start + item_len + 2
    sequence = vectors(time // span, tf.where(time < query_start, time % span - 1, -1))
    item_delimiter = (time < query_start) & (time % span == 0)
    query_delimiter = (time == query_start) | (time == answer_start - 1)
    # 1410.5401 Sec. 4.3: the answer is the item that followed the query item.
    targets = vectors(query + 1, time - answer_start)
    answering = (time >= answer_start) & (time < answer_start + item_len)
    return {
        "inputs": tf.concat(
            [
                sequence + vectors(query, time - query_start - 1),
                tf.cast(tf.stack([item_delimiter, query_delimiter], -1), tf.float32),
            ],
            -1,
        ),
        "targets": targets,
        "mask": tf.cast(answering, tf.float32),
    }


def episodic_copy_example(seed, num_chars, max_len, min_pause, max_pause):
    """One episodic-copy example (Associative LSTM, "Episodic Copy").

    The copy task of Arjovsky et al. (2016) with random lengths: 1 to `max_len`
    characters drawn uniformly from `num_chars`, then a pause of
    `min_pause`..`max_pause` blanks, then the delimiter; the network must then
    output the characters in order while reading blanks. Symbol ids are the
    characters `0..num_chars - 1`, the blank `num_chars` and the delimiter
    `num_chars + 1`; inputs are one-hot. The target at every step of the
    episode is the blank, except on the recall steps after the delimiter,
    which carry the characters. `mask` is 1 on the whole episode (the loss
    covers every step, blanks included) and 0 on the padding after it, which
    reads and targets blanks.

    Args:
      seed: int64 `[2]` stateless seed.
      num_chars: characters to copy from (8).
      max_len: most characters per episode (10).
      min_pause, max_pause: the range of the number of blanks.

    Returns:
      `{"inputs": float32 [T, num_chars + 2], "targets": int32 [T],
        "mask": float32 [T]}` with `T = 2 * max_len + max_pause + 1`.
    """
    steps = 2 * max_len + max_pause + 1
    blank, delimiter = num_chars, num_chars + 1
    length_seed, pause_seed, char_seed = _split_seeds(seed, 3)
    length = _uniform_int([], length_seed, 1, max_len)
    pause = _uniform_int([], pause_seed, min_pause, max_pause)
    chars = _uniform_int([max_len], char_seed, 0, num_chars - 1)
    time = tf.range(steps)
    # 1602.03032 Episodic Copy: characters, blanks, the delimiter, then the recall.
    recall_start = length + pause + 1
    symbols = tf.where(time < length, tf.gather(chars, tf.minimum(time, max_len - 1)), blank)
    recalling = (time >= recall_start) & (time < recall_start + length)
    recalled = tf.gather(chars, tf.clip_by_value(time - recall_start, 0, max_len - 1))
    return {
        "inputs": tf.one_hot(tf.where(time == recall_start - 1, delimiter, symbols), num_chars + 2),
        "targets": tf.where(recalling, recalled, blank),
        "mask": tf.cast(time < recall_start + length, tf.float32),
    }


def _xml_tags(seed, num_tags, max_depth):
    """The open/close decisions of a random XML stream, with a stack of depth `max_depth`.

    Each tag opens a new element with probability 1/2, or closes the most
    recently opened one; it must open at depth 0 and close at `max_depth`.

    Returns:
      `(opens, names)`: bool `[num_tags]`, and int32 `[num_tags]` naming, for
      each tag, the opening tag whose name it carries (itself when opening).
    """
    # 1602.03032 XML Modeling, after Jozefowicz et al. (2015): open or close with probability 1/2.
    coins = tf.random.stateless_uniform([num_tags], seed) < 0.5

    def push_or_pop(state, tag):
        depth, stack, _, _ = state
        index, coin = tag
        opens = (depth == 0) | ((depth < max_depth) & coin)
        slot = tf.where(opens, depth, depth - 1)
        pushed = tf.tensor_scatter_nd_update(stack, [[slot]], [index])
        name = tf.where(opens, index, tf.gather(stack, slot))
        return tf.where(opens, depth + 1, depth - 1), tf.where(opens, pushed, stack), opens, name

    initial = (tf.constant(0), tf.zeros([max_depth], tf.int32), tf.constant(False), tf.constant(0))
    _, _, opens, names = tf.scan(push_or_pop, (tf.range(num_tags), coins), initializer=initial)
    return opens, names


def xml_example(seed, seq_len, max_depth, max_tag_len):
    """One XML-modelling example (Associative LSTM, "XML Modeling").

    The task of Jozefowicz et al. (2015): a stream of nested tags
    `<name>...</name>`, each tag opening a new element or closing the innermost
    open one with probability 1/2, nesting at most `max_depth` deep; tag names
    are 1 to `max_tag_len` letters drawn uniformly from a..z. The example is
    the stream's first `seq_len + 1` characters as ids into `XML_ALPHABET`:
    `inputs` are characters `0..seq_len - 1` and `targets` the next
    characters. Only closing tags are predictable, so `mask` is 1 where the
    target is a character of a closing tag's name or its final `>`, and 0
    elsewhere (`<`, `/`, opening tags).

    Args:
      seed: int64 `[2]` stateless seed.
      seq_len: characters per example.
      max_depth: deepest nesting (4).
      max_tag_len: longest tag name (10).

    Returns:
      `{"inputs": int32 [seq_len], "targets": int32 [seq_len], "mask": float32 [seq_len]}`.
    """
    num_tags = seq_len // 3 + 2  # Every tag has at least 3 characters.
    tag_seed, size_seed, letter_seed = _split_seeds(seed, 3)
    opens, names = _xml_tags(tag_seed, num_tags, max_depth)
    sizes = tf.gather(_uniform_int([num_tags], size_seed, 1, max_tag_len), names)
    letters = _uniform_int([num_tags, max_tag_len], letter_seed, _XML_A, _XML_Z)
    letters = tf.gather(letters, names)
    closes = tf.cast(~opens, tf.int32)[:, None]
    # `<name>` or `</name>`: the name starts after `<`, or after `</`.
    position = tf.range(max_tag_len + 3)[None, :]
    name_start = 1 + closes
    in_name = (position >= name_start) & (position < name_start + sizes[:, None])
    name = tf.gather(
        letters, tf.clip_by_value(position - name_start, 0, max_tag_len - 1), batch_dims=1
    )
    slash = (position == 1) & (closes == 1)
    chars = tf.where(
        position == 0, _XML_OPEN, tf.where(slash, _XML_SLASH, tf.where(in_name, name, _XML_CLOSE))
    )
    lengths = sizes + 2 + closes[:, 0]
    stream = _flatten_rows(chars, lengths)[: seq_len + 1]
    # 1602.03032: only closing tags are predictable, so only they are scored.
    scored = _flatten_rows(tf.broadcast_to((position >= 2) & (closes == 1), chars.shape), lengths)
    return {
        "inputs": tf.reshape(stream[:seq_len], [seq_len]),
        "targets": tf.reshape(stream[1:], [seq_len]),
        "mask": tf.reshape(tf.cast(scored[1 : seq_len + 1], tf.float32), [seq_len]),
    }


def variable_assignment_example(seed, max_assignments, max_key_len):
    """One variable-assignment example (Associative LSTM, "Variable Assignment").

    A character sequence `s(key,value),...,s(key,value),q(key)value.`: 1 to
    `max_assignments` assignments of a value (one letter) to a variable (1 to
    `max_key_len` letters), then a query of one of the assigned variables,
    answered by its value (the last one assigned, should a variable be
    assigned twice) and a full stop. Characters are ids into
    `VARIABLE_ASSIGNMENT_ALPHABET`; `inputs` are the sequence but its last
    character and `targets` the next characters, both padded with id 0.
    `mask` is 1 exactly where the target is the answer or the full stop after it.

    Args:
      seed: int64 `[2]` stateless seed.
      max_assignments: most assignments before the query.
      max_key_len: longest variable name.

    Returns:
      `{"inputs": int32 [T], "targets": int32 [T], "mask": float32 [T]}` with
      `T = max_assignments * (max_key_len + 6) + max_key_len + 4`.
    """
    steps = max_assignments * (max_key_len + 6) + max_key_len + 4
    count_seed, size_seed, key_seed, value_seed, query_seed = _split_seeds(seed, 5)
    # 1602.03032 Variable Assignment: `s(key,value),...,q(key)value.`
    count = _uniform_int([], count_seed, 1, max_assignments)
    sizes = _uniform_int([max_assignments], size_seed, 1, max_key_len)
    keys = _uniform_int([max_assignments, max_key_len], key_seed, _FIRST_LETTER, _LAST_LETTER)
    values = _uniform_int([max_assignments], value_seed, _FIRST_LETTER, _LAST_LETTER)
    query = _uniform_int([], query_seed, 0, count - 1)
    position = tf.broadcast_to(tf.range(max_key_len + 6), [max_assignments, max_key_len + 6])
    key_chars = tf.gather(keys, tf.clip_by_value(position - 2, 0, max_key_len - 1), batch_dims=1)
    after_key = position - 2 - sizes[:, None]
    # `s(key,value),`: the characters after the key, by their offset from its end.
    punctuation = [tf.fill([max_assignments], char) for char in (_COMMA, _CLOSE, _COMMA)]
    tail_chars = tf.stack([punctuation[0], values, *punctuation[1:]], -1)
    tail = tf.gather(tail_chars, tf.clip_by_value(after_key, 0, 3), batch_dims=1)
    assignments = tf.where(
        position == 0,
        _STORE,
        tf.where(position == 1, _OPEN, tf.where(after_key < 0, key_chars, tail)),
    )
    same_key = (sizes == sizes[query]) & tf.reduce_all(
        (keys == keys[query]) | (tf.range(max_key_len)[None, :] >= sizes[:, None]), -1
    )
    assigned = tf.range(max_assignments) < count
    last = tf.reduce_max(tf.where(same_key & assigned, tf.range(max_assignments), -1))
    answer = tf.stack([_CLOSE, values[last], _STOP])
    question = tf.concat([[_QUERY, _OPEN], keys[query, : sizes[query]], answer], 0)
    text = tf.concat([_flatten_rows(assignments, tf.where(assigned, sizes + 6, 0)), question], 0)
    answer_step = tf.shape(text)[0] - 3
    time = tf.range(steps)
    return {
        "inputs": _pad_to(text[:-1], steps),
        "targets": _pad_to(text[1:], steps),
        "mask": tf.cast((time == answer_step) | (time == answer_step + 1), tf.float32),
    }


def _register(name, defaults, check, example_fn, features, metadata=lambda **options: {}):
    """Registers task `name`.

    `check(**options)` validates, `features(**options)` gives the specs and
    `metadata(**options)` any further `DatasetInfo` fields (`num_labels`, ...).
    """

    def info(**options):
        check(**options)
        return _common.DatasetInfo(
            name=name,
            features=features(**options),
            num_examples={split: None for split in SPLITS},
            **metadata(**options),
        )

    def make(split, *, shuffle, repeat, seed, **options):
        del shuffle, repeat  # An endless i.i.d. stream.
        split_seed = _common.base_seed(seed, name, split)
        return tf.data.Dataset.counter().map(
            lambda index: example_fn(
                tf.random.experimental.stateless_fold_in(split_seed, index), **options
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    _common.register(name, defaults, info, make)


def _sequence_features(steps, input_shape, input_dtype, target_shape=(), target_dtype=tf.int32):
    """Specs of `inputs` `[steps, *input_shape]`, `targets` and `mask` `[steps]`."""
    return {
        "inputs": tf.TensorSpec([steps, *input_shape], input_dtype),
        "targets": tf.TensorSpec([steps, *target_shape], target_dtype),
        "mask": tf.TensorSpec([steps], tf.float32),
    }


def _check_ints(name, low=1, **values):
    """Checks that each option in `values` of dataset `name` is an int >= `low`."""
    for option, value in values.items():
        _common.check_int(f"{option} of dataset {name!r}", value, low=low)


def _check_parity(num_bits):
    _check_ints("parity", num_bits=num_bits)


def _check_addition(num_digits, seq_len):
    _common.check_int("num_digits of dataset 'addition'", num_digits, 1, 17)
    _common.check_int("seq_len of dataset 'addition'", seq_len, low=1)
    if seq_len * (10**num_digits - 1) >= 10 ** (num_digits + 1):
        raise ValueError(
            f"seq_len * (10**num_digits - 1) of dataset 'addition' must be below "
            f"10**(num_digits + 1), so that sums fit in num_digits + 1 digits; "
            f"got seq_len={seq_len!r}, num_digits={num_digits!r}."
        )


def _check_copy(num_bits, max_len):
    _check_ints("copy", num_bits=num_bits, max_len=max_len)


def _check_logic(max_len, max_gates):
    _check_ints("logic", max_len=max_len, max_gates=max_gates)


def _check_sort(max_len):
    _check_ints("sort", low=2, max_len=max_len)


def _check_long_addition(num_digits, fixed_length):
    # Sums of two 18-digit numbers still fit in int64.
    _common.check_int("num_digits of dataset 'long_addition'", num_digits, 1, 18)
    if not isinstance(fixed_length, bool):
        raise ValueError(
            f"fixed_length of dataset 'long_addition' must be True or False; got {fixed_length!r}."
        )


def _check_repeat_copy(num_bits, max_len, max_repeats):
    _check_ints("repeat_copy", num_bits=num_bits, max_len=max_len, max_repeats=max_repeats)


def _check_associative_recall(num_bits, item_len, min_items, max_items):
    _check_ints("associative_recall", num_bits=num_bits, item_len=item_len)
    # 1410.5401 Sec. 4.3: the query needs an item after it.
    _check_ints("associative_recall", low=2, min_items=min_items)
    _check_ints("associative_recall", low=min_items, max_items=max_items)


def _check_episodic_copy(num_chars, max_len, min_pause, max_pause):
    _check_ints("episodic_copy", num_chars=num_chars, max_len=max_len)
    _check_ints("episodic_copy", low=0, min_pause=min_pause)
    _check_ints("episodic_copy", low=min_pause, max_pause=max_pause)


def _check_xml(seq_len, max_depth, max_tag_len):
    _check_ints("xml", seq_len=seq_len, max_depth=max_depth, max_tag_len=max_tag_len)


def _check_variable_assignment(max_assignments, max_key_len):
    _check_ints("variable_assignment", max_assignments=max_assignments, max_key_len=max_key_len)


_register(
    "parity",
    {"num_bits": 64},
    _check_parity,
    parity_example,
    lambda num_bits: {
        "inputs": tf.TensorSpec([num_bits], tf.float32),
        "target": tf.TensorSpec([], tf.int32),
    },
    lambda num_bits: {"num_labels": 2},
)
_register(
    "logic",
    {"max_len": 10, "max_gates": 10},
    _check_logic,
    logic_example,
    lambda max_len, max_gates: _sequence_features(max_len, [2 + 10 * max_gates], tf.float32),
    lambda max_len, max_gates: {"num_labels": 2},
)
_register(
    "addition",
    {"num_digits": 5, "seq_len": 5},
    _check_addition,
    addition_example,
    lambda num_digits, seq_len: _sequence_features(
        seq_len, [10 * num_digits], tf.float32, [num_digits + 1]
    ),
    lambda num_digits, seq_len: {"num_labels": 11},
)
_register(
    "sort",
    {"max_len": 15},
    _check_sort,
    sort_example,
    lambda max_len: _sequence_features(2 * max_len, [2], tf.float32),
    lambda max_len: {"num_labels": max_len},
)
_register(
    "long_addition",
    {"num_digits": 15, "fixed_length": True},
    _check_long_addition,
    long_addition_example,
    lambda num_digits, fixed_length: _sequence_features(
        3 * num_digits + 4, [len(LONG_ADDITION_SYMBOLS)], tf.float32
    ),
    lambda num_digits, fixed_length: {"num_categories": len(LONG_ADDITION_SYMBOLS)},
)
_register(
    "copy",
    {"num_bits": 8, "max_len": 20},
    _check_copy,
    copy_example,
    lambda num_bits, max_len: _sequence_features(
        2 * max_len + 1, [num_bits + 1], tf.float32, [num_bits], tf.float32
    ),
)
_register(
    "repeat_copy",
    {"num_bits": 8, "max_len": 10, "max_repeats": 10},
    _check_repeat_copy,
    repeat_copy_example,
    lambda num_bits, max_len, max_repeats: _sequence_features(
        max_len * (max_repeats + 1) + 2, [num_bits + 2], tf.float32, [num_bits + 1], tf.float32
    ),
)
_register(
    "associative_recall",
    {"num_bits": 6, "item_len": 3, "min_items": 2, "max_items": 6},
    _check_associative_recall,
    associative_recall_example,
    lambda num_bits, item_len, min_items, max_items: _sequence_features(
        (max_items + 1) * (item_len + 1) + item_len + 1,
        [num_bits + 2],
        tf.float32,
        [num_bits],
        tf.float32,
    ),
)
_register(
    "episodic_copy",
    {"num_chars": 8, "max_len": 10, "min_pause": 1, "max_pause": 100},
    _check_episodic_copy,
    episodic_copy_example,
    lambda num_chars, max_len, min_pause, max_pause: _sequence_features(
        2 * max_len + max_pause + 1, [num_chars + 2], tf.float32
    ),
    lambda num_chars, max_len, min_pause, max_pause: {"num_categories": num_chars + 2},
)
_register(
    "xml",
    {"seq_len": 100, "max_depth": 4, "max_tag_len": 10},
    _check_xml,
    xml_example,
    lambda seq_len, max_depth, max_tag_len: _sequence_features(seq_len, [], tf.int32),
    lambda seq_len, max_depth, max_tag_len: {"num_categories": len(XML_ALPHABET)},
)
_register(
    "variable_assignment",
    {"max_assignments": 4, "max_key_len": 4},
    _check_variable_assignment,
    variable_assignment_example,
    lambda max_assignments, max_key_len: _sequence_features(
        max_assignments * (max_key_len + 6) + max_key_len + 4, [], tf.int32
    ),
    lambda max_assignments, max_key_len: {"num_categories": len(VARIABLE_ASSIGNMENT_ALPHABET)},
)
