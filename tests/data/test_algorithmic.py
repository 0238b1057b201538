"""Tests of the algorithmic tasks against NumPy decodings of their examples."""

import re

import numpy as np
import pytest

from tfgen import data
from tfgen.data import algorithmic


def _batch(name, size=500, split="train", seed=0, **options):
    dataset = data.load(name, split, batch_size=size, seed=seed, **options)
    return {key: value.numpy() for key, value in next(iter(dataset)).items()}


def test_parity():
    batch = _batch("parity", num_bits=16)
    inputs, target = batch["inputs"], batch["target"]
    assert inputs.shape == (500, 16) and target.shape == (500,)
    assert set(np.unique(inputs)) <= {-1.0, 0.0, 1.0}
    nonzero = (inputs != 0).sum(1)
    assert nonzero.min() >= 1 and nonzero.max() <= 16
    assert len(np.unique(nonzero)) == 16  # Every count 1..16 occurs.
    np.testing.assert_array_equal(target, (inputs == 1).sum(1) % 2)
    assert 0.4 < target.mean() < 0.6
    # Set entries sit at random positions, not only at the front.
    assert any((row != 0).any() and not (row[: (row != 0).sum()] != 0).all() for row in inputs)


def _decode_number(blocks):
    """The integer written by one-hot digit blocks `[D, 10]` (zero blocks unused)."""
    digits = [str(block.argmax()) for block in blocks if block.any()]
    return int("".join(digits)) if digits else None


def test_addition():
    num_digits, seq_len = 3, 4
    batch = _batch("addition", num_digits=num_digits, seq_len=seq_len)
    inputs = batch["inputs"].reshape(500, seq_len, num_digits, 10)
    lengths = set()
    for blocks, targets, mask in zip(inputs, batch["targets"], batch["mask"]):
        numbers = [_decode_number(step) for step in blocks]
        length = sum(number is not None for number in numbers)
        assert all(number is not None for number in numbers[:length]) and length >= 1
        lengths.add(length)
        # Digits are used from the front of the vector, unused blocks are zero.
        used = blocks.any(-1)
        assert all((used[t] == np.sort(used[t])[::-1]).all() for t in range(seq_len))
        np.testing.assert_array_equal(blocks.sum(-1)[used], 1)
        sums = np.cumsum(numbers[:length])
        for t in range(seq_len):
            digits = targets[t]
            if t < length:
                end = list(digits).index(10) if 10 in digits else len(digits)
                assert (digits[end:] == 10).all() and (digits[:end] < 10).all()
                assert int("".join(map(str, digits[:end]))) == sums[t]
                assert str(sums[t]) == "".join(map(str, digits[:end]))
            else:
                assert (digits == 10).all()
        expected_mask = [0.0] + [1.0] * (length - 1) + [0.0] * (seq_len - length)
        np.testing.assert_array_equal(mask, expected_mask)
    assert lengths == set(range(1, seq_len + 1))
    widths = {int((step.any(-1)).sum()) for step in inputs.reshape(-1, num_digits, 10)} - {0}
    assert widths == set(range(1, num_digits + 1))


def test_addition_sums_fill_the_widest_target():
    batch = _batch("addition", 2000, num_digits=1, seq_len=10)
    assert (batch["targets"][:, :, 1] < 10).any()  # Sums of two digits occur.
    assert batch["targets"].shape == (2000, 10, 2)


def test_copy():
    num_bits, max_len = 5, 6
    steps = 2 * max_len + 1
    batch = _batch("copy", num_bits=num_bits, max_len=max_len)
    lengths, bits = set(), []
    for inputs, targets, mask in zip(batch["inputs"], batch["targets"], batch["mask"]):
        assert inputs.shape == (steps, num_bits + 1) and targets.shape == (steps, num_bits)
        delimiter = np.flatnonzero(inputs[:, num_bits])
        assert len(delimiter) == 1
        length = int(delimiter[0])
        lengths.add(length)
        assert 1 <= length <= max_len
        assert set(np.unique(inputs)) <= {0.0, 1.0} and set(np.unique(targets)) <= {0.0, 1.0}
        assert not inputs[length, :num_bits].any() and not inputs[length + 1 :].any()
        np.testing.assert_array_equal(
            targets[length + 1 : 2 * length + 1], inputs[:length, :num_bits]
        )
        expected_mask = np.zeros(steps)
        expected_mask[length + 1 : 2 * length + 1] = 1
        np.testing.assert_array_equal(mask, expected_mask)
        assert not targets[mask == 0].any()
        bits.append(inputs[:length, :num_bits])
    assert lengths == set(range(1, max_len + 1))
    assert abs(np.concatenate(bits).mean() - 0.5) < 0.03  # Fair random bits.


# Options small enough for fast tests, for every task of `tfgen.data.algorithmic`.
SMALL_OPTIONS = {
    "parity": {"num_bits": 12},
    "addition": {"num_digits": 3, "seq_len": 4},
    "copy": {"num_bits": 4, "max_len": 5},
    "logic": {"max_len": 4, "max_gates": 3},
    "sort": {"max_len": 6},
    "long_addition": {"num_digits": 5, "fixed_length": True},
    "repeat_copy": {"num_bits": 4, "max_len": 3, "max_repeats": 4},
    "associative_recall": {"num_bits": 4, "item_len": 2, "min_items": 2, "max_items": 4},
    "episodic_copy": {"num_chars": 4, "max_len": 5, "min_pause": 2, "max_pause": 9},
    "xml": {"seq_len": 60, "max_depth": 3, "max_tag_len": 4},
    "variable_assignment": {"max_assignments": 3, "max_key_len": 2},
}


def test_every_task_is_registered():
    assert set(SMALL_OPTIONS) <= set(data.names())  # The names are a contract.


@pytest.mark.parametrize("name", sorted(SMALL_OPTIONS))
def test_every_task_is_seeded_and_matches_info(name):
    options = SMALL_OPTIONS[name]
    info = data.info(name, **options)
    dataset = data.load(name, "train", batch_size=20, seed=3, **options)
    assert {
        key: (spec.shape.as_list(), spec.dtype) for key, spec in dataset.element_spec.items()
    } == {key: ([None] + spec.shape.as_list(), spec.dtype) for key, spec in info.features.items()}
    first = {key: value.numpy() for key, value in next(iter(dataset)).items()}
    again = _batch(name, 20, seed=3, **options)
    for key in info.features:
        np.testing.assert_array_equal(first[key], again[key])
    key = "inputs"
    assert not np.array_equal(first[key], _batch(name, 20, seed=4, **options)[key])
    assert not np.array_equal(first[key], _batch(name, 20, split="test", seed=3, **options)[key])
    assert not np.array_equal(first[key][:10], first[key][10:])


def test_info_reports_the_paper_sizes():
    logic = data.info("logic")
    assert logic.features["inputs"].shape == [10, 102] and logic.num_labels == 2
    sort = data.info("sort")
    assert sort.features["inputs"].shape == [30, 2] and sort.num_labels == 15
    long_addition = data.info("long_addition")
    assert long_addition.features["inputs"].shape == [49, 11]
    assert long_addition.num_categories == 11
    assert data.info("copy").features["inputs"].shape == [41, 9]  # NTM: lengths 1..20.
    repeat_copy = data.info("repeat_copy")
    assert repeat_copy.features["inputs"].shape == [112, 10]
    assert repeat_copy.features["targets"].shape == [112, 9]
    assert data.info("episodic_copy").num_categories == 10  # 8 characters, blank, delimiter.
    assert data.info("xml").num_categories == 29
    assert data.info("variable_assignment").num_categories == 31
    assert (data.info("parity").num_labels, data.info("addition").num_labels) == (2, 11)


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("logic", {"max_gates": 0}, "max_gates of dataset 'logic' must be an int >= 1; got 0"),
        ("logic", {"max_len": 2.0}, "max_len of dataset 'logic'"),
        ("sort", {"max_len": 1}, "max_len of dataset 'sort' must be an int >= 2; got 1"),
        ("long_addition", {"num_digits": 19}, "num_digits of dataset 'long_addition'"),
        ("long_addition", {"fixed_length": 1}, "fixed_length of dataset 'long_addition'"),
        ("repeat_copy", {"max_repeats": 0}, "max_repeats of dataset 'repeat_copy'"),
        ("associative_recall", {"num_bits": 0}, "num_bits of dataset 'associative_recall'"),
        ("associative_recall", {"item_len": 1.5}, "item_len of dataset 'associative_recall'"),
        (
            "associative_recall",
            {"min_items": 1},
            "min_items of dataset 'associative_recall' must be an int >= 2; got 1",
        ),
        ("associative_recall", {"min_items": 7}, "max_items of dataset 'associative_recall'"),
        ("associative_recall", {"min_items": 4, "max_items": 3}, "must be an int >= 4; got 3"),
        ("episodic_copy", {"min_pause": -1}, "min_pause of dataset 'episodic_copy'"),
        ("episodic_copy", {"min_pause": 5, "max_pause": 4}, "must be an int >= 5; got 4"),
        ("xml", {"max_depth": 0}, "max_depth of dataset 'xml'"),
        ("variable_assignment", {"max_key_len": True}, "max_key_len of dataset"),
    ],
)
def test_bad_options_are_refused(name, options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        data.info(name, **options)
    with pytest.raises(ValueError, match=re.escape(message)):
        data.load(name, **options)


# 1603.08983 Table 1, column by column: each gate as a function of (P, Q).
PAPER_GATES = {
    "NOR": lambda p, q: not (p or q),
    "Xq": lambda p, q: not p and q,
    "ABJ": lambda p, q: p and not q,
    "XOR": lambda p, q: p != q,
    "NAND": lambda p, q: not (p and q),
    "AND": lambda p, q: p and q,
    "XNOR": lambda p, q: p == q,
    "if/then": lambda p, q: not p or q,
    "then/if": lambda p, q: p or not q,
    "OR": lambda p, q: p or q,
}


def test_logic_targets_recompute_the_gate_chains():
    max_len, max_gates = 4, 3
    assert algorithmic.LOGIC_GATES == tuple(PAPER_GATES)  # The paper's order of Table 1.
    batch = _batch("logic", max_len=max_len, max_gates=max_gates)
    lengths, counts, gates_seen, targets_seen = set(), set(), set(), []
    for inputs, targets, mask in zip(batch["inputs"], batch["targets"], batch["mask"]):
        length = int(mask.sum())
        lengths.add(length)
        np.testing.assert_array_equal(mask, np.arange(max_len) < length)
        assert not inputs[length:].any() and not targets[length:].any()
        carried = None
        for t in range(length):
            b0, b1 = inputs[t, :2]
            if t > 0:
                assert b0 == 0  # "always set to zero in the input vector".
                b0 = carried
            chunks = inputs[t, 2:].reshape(max_gates, 10)
            used = chunks.any(-1)
            count = int(used.sum())
            assert used[:count].all() and count >= 1  # The first B chunks hold gates.
            np.testing.assert_array_equal(chunks[:count].sum(-1), 1)
            counts.add(count)
            bits = [bool(b0), bool(b1)]
            for chunk in chunks[:count]:
                gate = list(PAPER_GATES)[int(chunk.argmax())]
                gates_seen.add(gate)
                bits.append(PAPER_GATES[gate](bits[-1], bits[-2]))  # Eq. 21.
            assert targets[t] == bits[-1]
            carried = bits[-1]
            targets_seen.append(bits[-1])
    assert lengths == set(range(1, max_len + 1)) and counts == set(range(1, max_gates + 1))
    assert gates_seen == set(PAPER_GATES)
    assert 0.3 < np.mean(targets_seen) < 0.7


def test_sort_targets_are_the_sorted_indices():
    max_len = 6
    batch = _batch("sort", max_len=max_len)
    lengths, numbers = set(), []
    for inputs, targets, mask in zip(batch["inputs"], batch["targets"], batch["mask"]):
        values, flag = inputs[:, 0], inputs[:, 1]
        assert flag.sum() == 1
        length = int(np.flatnonzero(flag)[0]) + 1  # The flag marks the last number.
        lengths.add(length)
        assert values[:length].all() and not inputs[length:].any()
        np.testing.assert_array_equal(
            mask, (np.arange(2 * max_len) >= length) * (np.arange(2 * max_len) < 2 * length)
        )
        order = np.argsort(values[:length], kind="stable")
        np.testing.assert_array_equal(targets[length : 2 * length], order)
        np.testing.assert_array_equal(np.sort(values[:length]), values[:length][targets[mask == 1]])
        numbers.extend(values[:length])
    assert lengths == set(range(2, max_len + 1))
    assert abs(np.mean(numbers)) < 0.1 and abs(np.std(numbers) - 1) < 0.1  # N(0, 1).


def _decode_symbols(one_hot, alphabet):
    np.testing.assert_array_equal(one_hot.sum(-1), 1)
    return "".join(alphabet[i] for i in one_hot.argmax(-1))


@pytest.mark.parametrize("fixed_length", [True, False])
def test_long_addition_targets_are_the_sums(fixed_length):
    num_digits = 5
    assert algorithmic.LONG_ADDITION_SYMBOLS == "0123456789-"
    batch = _batch("long_addition", num_digits=num_digits, fixed_length=fixed_length)
    sizes = set()
    for inputs, targets, mask in zip(batch["inputs"], batch["targets"], batch["mask"]):
        text = _decode_symbols(inputs, "0123456789-")
        first, second, pad = re.fullmatch(r"-(\d+)-(\d+)(-+)", text).groups()
        sizes.update({len(first), len(second)})
        for number in (first, second):
            assert number == str(int(number))  # No leading zeros: exactly len(number) digits.
        answer_start = len(first) + len(second) + 2  # The step reading the last delimiter.
        answer = str(int(first) + int(second)) + "-"  # The sum, then end-of-result.
        expected_mask = np.zeros(len(text))
        expected_mask[answer_start : answer_start + len(answer)] = 1
        np.testing.assert_array_equal(mask, expected_mask)
        assert "".join("0123456789-"[i] for i in targets[mask == 1]) == answer
        assert (targets[mask == 0] == 10).all()
    expected_sizes = {num_digits} if fixed_length else set(range(1, num_digits + 1))
    assert sizes == expected_sizes


def test_long_addition_sums_carry_into_an_extra_digit():
    batch = _batch("long_addition", 200, num_digits=15)
    widths = {int(mask.sum()) - 1 for mask in batch["mask"]}
    assert widths == {15, 16}  # "either 15 or 16 digits".


def test_repeat_copy():
    num_bits, max_len, max_repeats = 4, 3, 4
    steps = max_len * (max_repeats + 1) + 2
    batch = _batch("repeat_copy", num_bits=num_bits, max_len=max_len, max_repeats=max_repeats)
    repeats = np.arange(1, max_repeats + 1)
    mean, std = repeats.mean(), repeats.std()
    seen, counts = set(), []
    for inputs, targets, mask in zip(batch["inputs"], batch["targets"], batch["mask"]):
        (length,) = np.flatnonzero(inputs[:, num_bits])
        assert 1 <= length <= max_len and not inputs[length + 1 :].any()
        assert not inputs[:length, num_bits + 1].any() and not inputs[length, :num_bits].any()
        count = inputs[length, num_bits + 1]
        counts.append(count)
        repeat = int(round(count * std + mean))
        assert repeat in repeats and abs(count - (repeat - mean) / std) < 1e-6
        seen.add((int(length), repeat))
        end = length * (repeat + 1) + 1
        expected = np.tile(inputs[:length, :num_bits], (repeat, 1))
        np.testing.assert_array_equal(targets[length + 1 : end, :num_bits], expected)
        np.testing.assert_array_equal(targets[:, num_bits], np.arange(steps) == end)
        np.testing.assert_array_equal(mask, (np.arange(steps) > length) & (np.arange(steps) <= end))
        assert not targets[mask == 0].any() and not targets[length + 1 : end, num_bits].any()
    assert len(seen) == max_len * max_repeats
    assert abs(np.mean(counts)) < 0.15 and abs(np.var(counts) - 1) < 0.15  # Normalised.


def _parse_associative_recall(inputs, num_bits):
    """Reads `inputs` `[T, num_bits + 2]` back into its items, its query and the answer start."""
    bits, (item_flags, query_flags) = inputs[:, :num_bits], inputs[:, num_bits:].T
    assert not (item_flags * query_flags).any() and not bits[(item_flags + query_flags) > 0].any()
    opening, closing = np.flatnonzero(query_flags)  # The query sits between two query delimiters.
    starts = [*np.flatnonzero(item_flags), opening]
    assert starts[0] == 0 and (np.diff(starts) > 0).all()  # Items first, each after its delimiter.
    items = [bits[start + 1 : end] for start, end in zip(starts[:-1], starts[1:])]
    assert not inputs[closing + 1 :].any()  # The input is zero while the answer is given.
    return items, bits[opening + 1 : closing], closing + 1


def test_associative_recall_targets_are_the_item_after_the_query():
    num_bits, item_len, min_items, max_items = 4, 3, 2, 5
    steps = (max_items + 1) * (item_len + 1) + item_len + 1
    options = dict(num_bits=num_bits, item_len=item_len, min_items=min_items, max_items=max_items)
    batch = _batch("associative_recall", **options)
    assert batch["inputs"].shape == (500, steps, num_bits + 2)
    assert batch["targets"].shape == (500, steps, num_bits) and batch["mask"].shape == (500, steps)
    assert all(value.dtype == np.float32 for value in batch.values())
    counts, positions, bits = set(), set(), []
    for inputs, targets, mask in zip(batch["inputs"], batch["targets"], batch["mask"]):
        assert set(np.unique(inputs)) <= {0.0, 1.0} and set(np.unique(targets)) <= {0.0, 1.0}
        items, query, answer_start = _parse_associative_recall(inputs, num_bits)
        assert all(item.shape == (item_len, num_bits) for item in [*items, query])
        counts.add(len(items))
        # 1410.5401 Sec. 4.3: the query is an item that has a successor; the answer is that one.
        matches = [i for i, item in enumerate(items[:-1]) if np.array_equal(item, query)]
        assert matches
        answer = targets[answer_start : answer_start + item_len]
        assert any(np.array_equal(answer, items[i + 1]) for i in matches)
        positions.update((len(items), i) for i in matches)
        np.testing.assert_array_equal(
            mask, (np.arange(steps) >= answer_start) & (np.arange(steps) < answer_start + item_len)
        )
        assert not targets[mask == 0].any()
        bits.append(np.concatenate(items))
    assert counts == set(range(min_items, max_items + 1))
    # Every item but the last is queried, for every number of items.
    assert positions == {(n, i) for n in range(min_items, max_items + 1) for i in range(n - 1)}
    assert abs(np.concatenate(bits).mean() - 0.5) < 0.03  # Fair random bits.


def test_associative_recall_paper_sizes():
    info = data.info("associative_recall")  # 1410.5401 Sec. 4.3: 2 to 6 items of 3 6-bit vectors.
    assert info.features["inputs"].shape == [32, 8] and info.features["targets"].shape == [32, 6]
    batch = _batch("associative_recall", 300)
    lengths = {int(np.flatnonzero(inputs[:, 6]).size) for inputs in batch["inputs"]}
    assert lengths == set(range(2, 7))
    assert (batch["mask"].sum(-1) == 3).all()
    # An episode of 6 items fills every step: its answer ends at the last one.
    assert batch["mask"][:, -1].any()


def test_episodic_copy():
    num_chars, max_len, min_pause, max_pause = 4, 5, 2, 9
    steps = 2 * max_len + max_pause + 1
    blank, delimiter = num_chars, num_chars + 1
    batch = _batch(
        "episodic_copy",
        num_chars=num_chars,
        max_len=max_len,
        min_pause=min_pause,
        max_pause=max_pause,
    )
    lengths, pauses = set(), set()
    for inputs, targets, mask in zip(batch["inputs"], batch["targets"], batch["mask"]):
        np.testing.assert_array_equal(inputs.sum(-1), 1)
        symbols = inputs.argmax(-1)
        length = int(np.argmax(symbols >= num_chars))
        (flag,) = np.flatnonzero(symbols == delimiter)
        pause = flag - length
        lengths.add(length)
        pauses.add(int(pause))
        chars = symbols[:length]
        assert (symbols[length:flag] == blank).all() and (symbols[flag + 1 :] == blank).all()
        episode = 2 * length + pause + 1
        np.testing.assert_array_equal(targets[flag + 1 : episode], chars)
        assert (targets[: flag + 1] == blank).all() and (targets[episode:] == blank).all()
        np.testing.assert_array_equal(mask, np.arange(steps) < episode)
    assert lengths == set(range(1, max_len + 1)) and pauses == set(range(min_pause, max_pause + 1))


def _parse_xml(text, max_depth, max_tag_len):
    """Parses an XML prefix; returns closing-tag positions (name and '>') and open choices."""
    stack, scored, choices, i = [], set(), [], 0
    while i < len(text):
        assert text[i] == "<"
        if i + 1 == len(text):
            break  # Cut right after "<": opening or closing is unknown.
        closing = text[i + 1] == "/"
        start = i + 1 + closing
        end = text.find(">", start)
        complete = end != -1
        end = end if complete else len(text)
        name = text[start:end]
        assert re.fullmatch(r"[a-z]*", name) and len(name) <= max_tag_len
        if 0 < len(stack) < max_depth:
            choices.append(not closing)
        if closing:
            opened = stack.pop()
            assert opened == name if complete else opened.startswith(name)
            scored.update(range(start, min(end + 1, len(text))))
        else:
            assert not complete or name
            stack.append(name)
            assert len(stack) <= max_depth
        i = end + 1
    return scored, choices


def test_xml_masks_exactly_the_closing_tags():
    seq_len, max_depth, max_tag_len = 60, 3, 4
    assert algorithmic.XML_ALPHABET == "<>/abcdefghijklmnopqrstuvwxyz"
    batch = _batch("xml", 200, seq_len=seq_len, max_depth=max_depth, max_tag_len=max_tag_len)
    all_choices, names = [], set()
    for inputs, targets, mask in zip(batch["inputs"], batch["targets"], batch["mask"]):
        np.testing.assert_array_equal(inputs[1:], targets[:-1])
        text = "".join(algorithmic.XML_ALPHABET[i] for i in [*inputs, targets[-1]])
        scored, choices = _parse_xml(text, max_depth, max_tag_len)
        all_choices.extend(choices)
        np.testing.assert_array_equal(mask, [t + 1 in scored for t in range(seq_len)])
        names.update(re.findall(r"<([a-z]+)>", text))
    assert {len(name) for name in names} == set(range(1, max_tag_len + 1))
    assert abs(np.mean(all_choices) - 0.5) < 0.05  # Open or close with probability 1/2.


def test_variable_assignment_targets_answer_the_query():
    max_assignments, max_key_len = 3, 2
    alphabet = algorithmic.VARIABLE_ASSIGNMENT_ALPHABET
    assert alphabet == " (),.abcdefghijklmnopqrstuvwxyz"
    batch = _batch("variable_assignment", max_assignments=max_assignments, max_key_len=max_key_len)
    counts, reassigned = set(), 0
    pattern = r"((?:s\([a-z]{1,2},[a-z]\),){1,3})q\(([a-z]{1,2})\)([a-z])\."
    for inputs, targets, mask in zip(batch["inputs"], batch["targets"], batch["mask"]):
        size = int((targets != 0).sum())
        assert (inputs[size:] == 0).all() and (targets[size:] == 0).all()
        np.testing.assert_array_equal(inputs[1:size], targets[: size - 1])
        text = "".join(alphabet[i] for i in [inputs[0], *targets[:size]])
        assignments, query, answer = re.fullmatch(pattern, text).groups()
        pairs = re.findall(r"s\(([a-z]+),([a-z])\)", assignments)
        counts.add(len(pairs))
        reassigned += len({key for key, _ in pairs}) < len(pairs)
        memory = dict(pairs)  # Later assignments overwrite earlier ones.
        assert answer == memory[query]
        expected_mask = np.zeros(len(mask))
        expected_mask[[len(text) - 3, len(text) - 2]] = 1  # The answer and the full stop.
        np.testing.assert_array_equal(mask, expected_mask)
    assert counts == set(range(1, max_assignments + 1)) and reassigned > 0
