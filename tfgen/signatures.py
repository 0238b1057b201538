"""Exported signatures that check their inputs before any work starts.

TF Serving runs a signature on whatever tensors a client sends: a label past
the last class, a pixel outside the model's levels, a NaN temperature or a
request for two million samples would otherwise be answered with meaningless
numbers or take the server down. `signature_function` makes every check part
of the exported graph, so any TF Serving build refuses such a request with
INVALID_ARGUMENT (a `tf.errors.InvalidArgumentError`) before the model runs:

* inputs with a batch dimension have the same batch size, at most
  `SignatureLimits.max_examples`;
* every floating-point input is finite, and a `temperature` is positive
  (unless `value_ranges` gives its range);
* a count input (`num_samples`, `num_frames`, `steps`, `length`,
  `iterations`, unless `value_ranges` gives its range) is at least 1 and at
  most `max_count` (`num_samples` counts examples, bounded by
  `max_examples`, when no input has a batch dimension);
* the work, examples times every count, is at most `max_work`;
* integer inputs lie in the model's `value_ranges` (levels, classes, vocabulary).

A signature keeps the limits in force where it is made, so an export sets
them with `signature_limits`:

    with tfgen.signatures.signature_limits(SignatureLimits(max_examples=64)):
        signatures = model.signatures()
    tf.saved_model.save(model, path, signatures=signatures)
"""

import contextlib
import contextvars
import dataclasses
import inspect

import tensorflow as tf

__all__ = ["COUNT_INPUTS", "SignatureLimits", "signature_function", "signature_limits"]

COUNT_INPUTS = ("num_samples", "num_frames", "steps", "length", "iterations")


@dataclasses.dataclass(frozen=True)
class SignatureLimits:
    """Bounds on the work one call of an exported signature may ask for.

    Args:
      max_examples: largest batch dimension of the inputs, or `num_samples`
        when it counts examples.
      max_count: largest value of any other count input (`steps`, `length`,
        `num_frames`, `iterations`, or `num_samples` per example).
      max_work: largest product of the examples and every count.
    """

    max_examples: int = 4096
    max_count: int = 1_000_000
    max_work: int = 1 << 24

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected a positive integer {field.name}, got {value!r}.")


_LIMITS = contextvars.ContextVar("signature_limits", default=None)  # None: the defaults


@contextlib.contextmanager
def signature_limits(limits):
    """Signatures made inside this context check `limits` (a `SignatureLimits`)."""
    if not isinstance(limits, SignatureLimits):
        raise TypeError(f"Expected a SignatureLimits, got {type(limits).__name__}.")
    token = _LIMITS.set(limits)
    try:
        yield limits
    finally:
        _LIMITS.reset(token)


def signature_function(fn, specs, value_ranges=None):
    """`tf.function(fn)` with `input_signature=specs` that checks its inputs first.

    SavedModel signatures are called with keyword arguments named after their
    TensorSpecs; this gives `fn(**named_inputs)` exactly that calling
    convention, and runs `fn` only on inputs that passed every check (see the
    module docstring).

    Args:
      fn: a function of keyword arguments named after `specs`.
      specs: list of named `tf.TensorSpec`s.
      value_ranges: optional dict of input name -> `(minimum, maximum)`, the
        inclusive range of an input's values; a count input given a range
        here is checked against it alone, not counted as work.

    Returns:
      A `tf.function` with a full input signature.
    """
    value_ranges = dict(value_ranges or {})
    unknown = sorted(set(value_ranges) - {spec.name for spec in specs})
    if unknown:
        raise ValueError(f"Expected value_ranges for inputs of the signature, got {unknown}.")
    limits = _LIMITS.get() or SignatureLimits()
    signature = inspect.Signature(
        [inspect.Parameter(spec.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for spec in specs]
    )

    def wrapper(*args, **kwargs):
        inputs = signature.bind(*args, **kwargs).arguments
        return fn(**_checked_inputs(inputs, specs, value_ranges, limits))

    wrapper.__signature__ = signature
    wrapper.__name__ = fn.__name__
    return tf.function(wrapper, input_signature=specs)


def _checked_inputs(inputs, specs, value_ranges, limits):
    """Returns `inputs` behind control dependencies on every check of their values."""
    checks = _batch_checks(inputs, specs, value_ranges, limits)
    for spec in specs:
        value = inputs[spec.name]
        if spec.dtype.is_floating:
            finite = tf.reduce_all(tf.math.is_finite(value))
            checks.append(_assert(finite, f"Expected input `{spec.name}` to be finite."))
        if spec.name == "temperature" and spec.name not in value_ranges:
            checks.append(_assert(value > 0, f"Expected input `{spec.name}` to be positive."))
        if spec.name in value_ranges:
            low, high = value_ranges[spec.name]
            inside = tf.reduce_all((value >= low) & (value <= high))
            checks.append(_assert(inside, _in_range(spec.name, low, high)))
    with tf.control_dependencies(checks):
        return {name: tf.identity(value) for name, value in inputs.items()}


def _batch_checks(inputs, specs, value_ranges, limits):
    """Same batch sizes; examples, counts and their product within `limits`."""
    batched = [spec.name for spec in specs if spec.shape.rank and spec.shape[0] is None]
    counts = [
        spec.name
        for spec in specs
        if spec.name in COUNT_INPUTS
        and spec.name not in value_ranges
        and spec.shape.rank == 0
        and spec.dtype.is_integer
    ]
    checks = []
    if batched:
        examples = tf.shape(inputs[batched[0]], out_type=tf.int64)[0]
        for name in batched[1:]:
            same = tf.equal(tf.shape(inputs[name], out_type=tf.int64)[0], examples)
            message = f"Expected input `{name}` to have the batch size of `{batched[0]}`."
            checks.append(_assert(same, message))
        message = f"Expected a batch size of at most {limits.max_examples}."
        checks.append(_assert(examples <= limits.max_examples, message))
    elif "num_samples" in counts:
        counts.remove("num_samples")
        examples = tf.cast(inputs["num_samples"], tf.int64)
        within = (examples >= 1) & (examples <= limits.max_examples)
        checks.append(_assert(within, _in_range("num_samples", 1, limits.max_examples)))
    else:
        examples = tf.constant(1, tf.int64)
    work = tf.cast(examples, tf.float64)
    for name in counts:
        count = tf.cast(inputs[name], tf.int64)
        within = (count >= 1) & (count <= limits.max_count)
        checks.append(_assert(within, _in_range(name, 1, limits.max_count)))
        work *= tf.cast(count, tf.float64)
    if counts:
        product = " times ".join(["examples", *counts])
        message = f"Expected {product} to be at most {limits.max_work}."
        checks.append(_assert(work <= limits.max_work, message))
    return checks


def _in_range(name, low, high):
    return f"Expected input `{name}` in [{low}, {high}]."


def _assert(condition, message):
    return tf.debugging.Assert(condition, [message])
