"""Finds the copies XLA makes of given tensors: evidence of updates that are not in place."""

import re

# "%copy.1 = f32[2,1024,4]{2,1,0} copy(f32[2,1024,4]{2,1,0} %operand)", as TF 2.15 prints it.
_COPY = re.compile(r"= \w+\[([\d,]+)\]\{[\d,]*\} copy\((?:\S+ )?%?([\w.]+)\)")


def copies_of(function, args, shapes):
    """The copies, in `function`'s optimised XLA program, of tensors of the given shapes.

    Copies of a fill (an XLA broadcast, e.g. the zeros a loop starts from) are
    left out: they happen once per call, not per step.

    Args:
      function: a `tf.function(jit_compile=True)`.
      args: its arguments.
      shapes: the shapes (tuples of ints) of the tensors that must not be copied.

    Returns:
      The shapes of the offending copies.
    """
    hlo = function.experimental_get_compiler_ir(*args)(stage="optimized_hlo")
    copies = _COPY.findall(hlo)
    assert copies, "no copy found at all: the HLO text format changed"
    watched = {",".join(map(str, shape)) for shape in shapes}
    return [s for s, operand in copies if s in watched and not operand.startswith("broadcast")]
