"""tfgen.noise: the blocked CDF and the inverse-CDF categorical draw, with and without XLA."""

import numpy as np
import pytest
import tensorflow as tf

from tfgen import noise


@pytest.mark.parametrize("K", [2, 10, 16, 27, 256])
def test_cumulative_probs_is_a_running_sum(K):
    probs = tf.random.stateless_uniform([3, 5, K], [K, 0])
    expected = np.cumsum(probs.numpy().astype(np.float64), axis=-1)
    for fn in (noise.cumulative_probs, tf.function(noise.cumulative_probs, jit_compile=True)):
        np.testing.assert_allclose(fn(probs).numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("K", [2, 16, 27, 256])
def test_categorical_draw_inverts_the_cdf(K):
    """k is the first class whose CDF exceeds u (a NumPy float64 CDF), with and without XLA."""
    probs = tf.random.stateless_uniform([300, 4, K], [K, 1]) ** 3
    u = noise.uniform_from_seed([300, 4], tf.constant([5, 6], tf.int64))
    cdf = np.cumsum(probs.numpy().astype(np.float64), axis=-1)
    expected = np.minimum((cdf <= u.numpy()[..., None] * cdf[..., -1:]).sum(-1), K - 1)
    draw = noise.categorical_from_probs
    for fn in (draw, tf.function(draw, jit_compile=True)):
        k = fn(probs, u).numpy()
        # Float32 sums move a draw only where u falls within rounding of a CDF step.
        assert k.dtype == np.int32 and np.mean(k == expected) > 0.998


def test_cumulative_probs_needs_a_static_number_of_classes():
    fn = tf.function(noise.cumulative_probs, input_signature=[tf.TensorSpec([2, None])])
    with pytest.raises(ValueError, match="expected a static number of classes"):
        fn.get_concrete_function()
