"""Tests of the algorithmic tasks against NumPy decodings of their examples."""

import numpy as np
import pytest

from tfgen import data


def _batch(name, size=500, split="train", seed=0, **options):
    dataset = data.load(name, split, batch_size=size, seed=seed, **options)
    return {key: value.numpy() for key, value in next(iter(dataset)).items()}


@pytest.mark.parametrize("name", ["parity", "addition", "copy"])
def test_streams_are_seeded_and_splits_differ(name):
    first = _batch(name, 20)
    np.testing.assert_array_equal(first["inputs"], _batch(name, 20)["inputs"])
    assert not np.array_equal(first["inputs"], _batch(name, 20, seed=1)["inputs"])
    assert not np.array_equal(first["inputs"], _batch(name, 20, split="test")["inputs"])
    assert not np.array_equal(first["inputs"][:10], first["inputs"][10:])


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
