"""Tests of tfgen.checks: the shared argument checks and their messages."""

import math

import numpy as np
import pytest

from tfgen.checks import check_choice, check_float, check_int, check_shape


def test_check_int():
    assert check_int(np.int64(3), "n") == 3 and type(check_int(np.int64(3), "n")) is int
    assert check_int(0, "n", minimum=0) == 0
    with pytest.raises(ValueError, match=r"n: expected an int >= 1, got 0\."):
        check_int(0, "n")
    for bad in (True, 2.0, "2"):
        with pytest.raises(TypeError, match="n: expected an int"):
            check_int(bad, "n")


@pytest.mark.parametrize(
    "value, interval, expected",
    [
        (0.0, dict(low=0.0, high=1.0), 0.0),
        (1, dict(low=0.0, high=1.0), 1.0),
        (np.float32(0.5), dict(low=0.0, high=1.0, low_open=True, high_open=True), 0.5),
        (-7.0, dict(), -7.0),
    ],
)
def test_check_float_accepts(value, interval, expected):
    result = check_float(value, "x", **interval)
    assert result == expected and type(result) is float


@pytest.mark.parametrize(
    "value, interval, message",
    [
        (0.0, dict(low=0.0, low_open=True), r"\(0.0, inf\], got 0.0"),
        (1.0, dict(low=0.0, high=1.0, high_open=True), r"\[0.0, 1.0\), got 1.0"),
        (-0.5, dict(low=0.0, high=1.0), r"\[0.0, 1.0\], got -0.5"),
        (math.nan, dict(), r"\[-inf, inf\], got nan"),
        (math.inf, dict(), r"\[-inf, inf\], got inf"),
    ],
)
def test_check_float_rejects(value, interval, message):
    with pytest.raises(ValueError, match=f"x: expected a finite float in {message}"):
        check_float(value, "x", **interval)


def test_check_float_types():
    for bad in (True, "0.5", None, [0.5]):
        with pytest.raises(TypeError, match="x: expected a float"):
            check_float(bad, "x")


def test_check_choice_and_shape():
    assert check_choice("a", "mode", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"mode: expected one of \('a', 'b'\), got 'c'\."):
        check_choice("c", "mode", ("a", "b"))
    assert check_shape([2, 3], "shape", 2) == (2, 3)
    with pytest.raises(ValueError, match="shape: expected a sequence of 2 ints"):
        check_shape((2,), "shape", 2)
