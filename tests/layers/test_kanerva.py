"""The Kanerva Machine's memory (arXiv 1804.01756, Sec. 3) against NumPy references.

The references are written from the model, not from the code under test:
`vec(M) ~ N(vec(R), I_C (x) U)` (column-stacked vec, column covariance I) and
`vec(Z) = (I_C (x) W) vec(M) + noise`, so the write is Gaussian conditioning
of one KC-dimensional normal (Bayesian linear regression, in information
form with explicit inverses, float64), and the memory KL is the KL between
two KC-dimensional normals with Kronecker covariances.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.test_case import run_layer_test
from tfgen.layers import KanervaMemory, memory_kl, memory_update

B, K, C, T, S = 2, 5, 3, 4, 2


def _spd(rng, size, batch=B):
    factor = rng.normal(size=(batch, size, size))
    return factor @ np.swapaxes(factor, -1, -2) / size + 0.5 * np.eye(size)


def _vec(matrix):
    return matrix.flatten(order="F")  # stacks the columns


def _posterior_reference(R, U, W, Z, noise_variance):
    """Mean [K, C] and covariance [KC, KC] of vec(M) | Z by Bayesian linear regression."""
    columns = R.shape[1]
    prior_precision = np.linalg.inv(np.kron(np.eye(columns), U))
    design = np.kron(np.eye(columns), W)  # vec(W M) = (I (x) W) vec(M)
    covariance = np.linalg.inv(prior_precision + design.T @ design / noise_variance)
    mean = covariance @ (prior_precision @ _vec(R) + design.T @ _vec(Z) / noise_variance)
    return mean.reshape(columns, -1).T, covariance


def _random_memory(rng):
    R, U = rng.normal(size=(B, K, C)), _spd(rng, K)
    W, Z = rng.normal(size=(B, T, K)), rng.normal(size=(B, T, C))
    return R, U, W, Z


def test_memory_update_is_bayesian_linear_regression():
    rng = np.random.default_rng(0)
    R, U, W, Z = _random_memory(rng)
    noise_variance = 0.7
    R_new, U_new = (t.numpy() for t in memory_update(R, U, W, Z, noise_variance))
    for b in range(B):
        mean, covariance = _posterior_reference(R[b], U[b], W[b], Z[b], noise_variance)
        np.testing.assert_allclose(R_new[b], mean, rtol=1e-9, atol=1e-9)
        # The posterior keeps the matrix-variate form: Cov(vec M) = I_C (x) U_new.
        np.testing.assert_allclose(np.kron(np.eye(C), U_new[b]), covariance, atol=1e-9)


def test_writing_the_same_pattern_twice_shrinks_the_variance_less_the_second_time():
    rng = np.random.default_rng(1)
    R, U, W, Z = _random_memory(rng)
    w, z = W[:, :1], Z[:, :1]
    R_1, U_1 = memory_update(R, U, w, z, 0.5)
    R_2, U_2 = memory_update(R_1, U_1, w, z, 0.5)
    trace_0, trace_1, trace_2 = (
        np.trace(u.numpy() if tf.is_tensor(u) else u, axis1=1, axis2=2) for u in (U, U_1, U_2)
    )
    assert np.all(trace_1 < trace_0) and np.all(trace_2 < trace_1)
    assert np.all(trace_1 - trace_2 < trace_0 - trace_1)  # less left to learn the second time
    # The read-out at the written address moves towards the pattern each time.
    error = [
        np.linalg.norm(np.squeeze(w @ r, 1) - z[:, 0], axis=-1)
        for r in (R, R_1.numpy(), R_2.numpy())
    ]
    assert np.all(error[1] < error[0]) and np.all(error[2] < error[1])


def test_sequential_writes_in_any_order_equal_one_batch_write():
    rng = np.random.default_rng(2)
    R, U, W, Z = _random_memory(rng)
    R_batch, U_batch = memory_update(R, U, W, Z, 0.3)
    R_seq, U_seq = R, U
    for t in rng.permutation(T):
        R_seq, U_seq = memory_update(R_seq, U_seq, W[:, t : t + 1], Z[:, t : t + 1], 0.3)
    np.testing.assert_allclose(R_seq.numpy(), R_batch.numpy(), atol=1e-10)
    np.testing.assert_allclose(U_seq.numpy(), U_batch.numpy(), atol=1e-10)


def _gaussian_kl(mean_q, cov_q, mean_p, cov_p):
    precision_p = np.linalg.inv(cov_p)
    delta = mean_p - mean_q
    return 0.5 * (
        np.trace(precision_p @ cov_q)
        + delta @ precision_p @ delta
        - len(mean_q)
        + np.linalg.slogdet(cov_p)[1]
        - np.linalg.slogdet(cov_q)[1]
    )


def test_memory_kl_equals_the_kl_of_flattened_gaussians():
    rng = np.random.default_rng(3)
    R, U = rng.normal(size=(B, K, C)), _spd(rng, K)
    R0, U0 = rng.normal(size=(B, K, C)), _spd(rng, K)
    expected = [
        _gaussian_kl(_vec(R[b]), np.kron(np.eye(C), U[b]), _vec(R0[b]), np.kron(np.eye(C), U0[b]))
        for b in range(B)
    ]
    np.testing.assert_allclose(memory_kl(R, U, R0, U0).numpy(), expected, rtol=1e-9)
    np.testing.assert_allclose(memory_kl(R0, U0, R0, U0).numpy(), 0.0, atol=1e-9)


def test_shape_errors_say_what_was_expected():
    R, U = tf.zeros([1, K, C]), tf.eye(K, batch_shape=[1])
    with pytest.raises(ValueError, match=r"W: expected 5 \(K"):
        memory_update(R, U, tf.zeros([1, T, K + 1]), tf.zeros([1, T, C]), 1.0)
    with pytest.raises(ValueError, match="Z: expected a rank-3 tensor"):
        memory_update(R, U, tf.zeros([1, T, K]), tf.zeros([T, C]), 1.0)
    with pytest.raises(ValueError, match="noise_variance: expected a scalar"):
        memory_update(R, U, tf.zeros([1, T, K]), tf.zeros([1, T, C]), tf.ones([2]))
    with pytest.raises(ValueError, match="prior_mean: expected 3"):
        memory_kl(R, U, tf.zeros([1, K, C + 1]), U)
    with pytest.raises(ValueError, match="memory_size: expected an int >= 1"):
        KanervaMemory(0, C, S)
    with pytest.raises(ValueError, match="noise_variance: expected a float > 0 or None"):
        KanervaMemory(K, C, S, noise_variance=0.0)


@pytest.mark.parametrize("noise_variance, num_weights", [(0.5, 3), (None, 4)])
def test_kanerva_memory_layer(noise_variance, num_weights):
    """A fixed noise variance is a constant; None learns it as a fourth weight."""
    rng = np.random.default_rng(4)
    z = rng.normal(size=(B, T, C)).astype(np.float32)
    key = rng.normal(size=(B, T, S)).astype(np.float32)
    layer, _ = run_layer_test(
        KanervaMemory,
        {"memory_size": K, "code_size": C, "key_size": S, "noise_variance": noise_variance},
        (z, key),
        expected_output_shape=((B, T, C), (B,)),
        expected_num_trainable_weights=num_weights,
    )
    expected = 0.5 if noise_variance else 1e-3 + np.exp(layer.log_noise_variance.numpy())
    np.testing.assert_allclose(layer.noise_variance.numpy(), expected, rtol=1e-6)


def test_layer_addresses_reads_and_writes_as_the_paper_says():
    layer = KanervaMemory(K, C, S)
    layer.build()
    rng = np.random.default_rng(5)
    layer.addresses.assign(rng.normal(size=(K, S)))
    layer.prior_log_variance.assign(rng.normal(size=K))
    layer.prior_mean.assign(rng.normal(size=(K, C)))
    key, z = rng.normal(size=(B, T, S)), rng.normal(size=(B, T, C))
    # w^T = b^T A^T, the rows of A normalised to unit length.
    A = layer.addresses.numpy()
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    w = key @ A.T
    np.testing.assert_allclose(layer.address(key).numpy(), w, rtol=1e-5)
    R0 = np.broadcast_to(layer.prior_mean.numpy(), (B, K, C))
    U0 = np.broadcast_to(np.diag(np.exp(layer.prior_log_variance.numpy())), (B, K, K))
    R, U = layer.write(R0, U0, w.astype(np.float32), z.astype(np.float32))
    # The read-out w^T M of M ~ MN(R, U, I): mean w^T R, variance w^T U w per column.
    mean, variance = layer.read(R, U, w.astype(np.float32))
    np.testing.assert_allclose(mean.numpy(), w @ R.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        variance.numpy(), np.einsum("btk,bkl,btl->bt", w, U.numpy(), w), rtol=1e-4, atol=1e-5
    )
    # Calling the layer: write the episode into the prior memory, read it back, KL to the prior.
    read, kl = layer((z.astype(np.float32), key.astype(np.float32)))
    np.testing.assert_allclose(read.numpy(), mean.numpy(), rtol=1e-4, atol=1e-5)
    expected_kl = [
        _gaussian_kl(
            _vec(R.numpy()[b]),
            np.kron(np.eye(C), U.numpy()[b]),
            _vec(R0[b]),
            np.kron(np.eye(C), U0[b]),
        )
        for b in range(B)
    ]
    np.testing.assert_allclose(kl.numpy(), expected_kl, rtol=1e-3)
