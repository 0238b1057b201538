"""Argument checks shared by layers and models.

Each returns the checked value in its plain Python form, or raises a
`TypeError`/`ValueError` whose message says what was expected and what arrived.
"""

import math

import numpy as np


def check_int(value, name, minimum=1):
    """Returns `value` as an int, unless it is not an int >= `minimum`.

    Raises:
      TypeError: for a non-integer (bools count as non-integers).
      ValueError: for an integer below `minimum`.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}.")
    return int(value)


def check_float(value, name, low=-math.inf, high=math.inf, *, low_open=False, high_open=False):
    """Returns `value` as a float, unless it is not a finite real number in the interval.

    The interval is [low, high], open at `low` if `low_open` and at `high` if `high_open`.

    Raises:
      TypeError: for a non-number (bools count as non-numbers).
      ValueError: for NaN, an infinity or a number outside the interval.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a float, got {value!r} ({type(value).__name__}).")
    value = float(value)
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (math.isfinite(value) and above and below):
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name}: expected a finite float in {interval}, got {value!r}.")
    return value


def check_choice(value, name, choices):
    """Returns `value` if it is one of `choices`, else raises a ValueError naming them."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}.")
    return value


def check_shape(value, name, rank):
    """Returns `value` as a tuple of `rank` positive ints (a list is accepted too)."""
    if not isinstance(value, (list, tuple)) or len(value) != rank:
        raise ValueError(f"{name}: expected a sequence of {rank} ints, got {value!r}.")
    return tuple(check_int(v, name, 1) for v in value)
