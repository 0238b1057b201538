"""The BFN networks Psi(theta, t) (arXiv 2308.07037, Sec. 3.2) through the shared helper."""

import numpy as np
import pytest
import tensorflow as tf

from tests.test_case import run_layer_test
from tfgen.layers import bfn_networks
from tfgen.layers.bfn_networks import BFNConvNet, BFNTransformer, TimeEmbedding


def test_time_embedding_layer():
    t = np.array([0.0, 0.3, 1.0], np.float32)
    run_layer_test(
        TimeEmbedding,
        {"units": 6, "num_frequencies": 3},
        t,
        expected_output_shape=(3, 6),
        expected_num_trainable_weights=4,
    )


def test_conv_net_layer():
    rng = np.random.default_rng(0)
    theta = rng.uniform(size=(2, 5, 5, 2)).astype(np.float32)
    t = rng.uniform(size=(2,)).astype(np.float32)
    # Time embedding 4, input conv 2, per block conv_a, time dense, conv_b: 6, output conv 2.
    run_layer_test(
        BFNConvNet,
        {"output_channels": 3, "filters": 4, "num_layers": 2, "dilation_rates": (1, 2)},
        (theta, t),
        expected_output_shape=(2, 5, 5, 3),
        expected_num_trainable_weights=4 + 2 + 2 * 6 + 2,
    )


def test_transformer_layer():
    rng = np.random.default_rng(0)
    theta = rng.dirichlet(np.ones(3), size=(2, 5)).astype(np.float32)  # L = 5 <= seq_len
    t = rng.uniform(size=(2,)).astype(np.float32)
    # Time embedding 4, input dense 2, positions 1; per block 2 norms 4, attention 8,
    # MLP 4; output norm 2, output dense 2.
    run_layer_test(
        BFNTransformer,
        {
            "output_dim": 3,
            "seq_len": 6,
            "model_dim": 8,
            "num_layers": 1,
            "num_heads": 2,
            "kernel_size": 3,
        },
        (theta, t),
        expected_output_shape=(2, 5, 3),
        expected_num_trainable_weights=4 + 2 + 1 + 16 + 4,
    )


def test_conv_net_depth_is_num_layers():
    net = BFNConvNet(2, filters=4, num_layers=3)
    assert len(net.blocks) == 3 and net.get_config()["num_layers"] == 3
    with pytest.raises(TypeError, match="num_blocks"):
        BFNConvNet(2, num_blocks=3)


def test_transformer_rejects_indivisible_heads():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        BFNTransformer(3, 6, model_dim=10, num_heads=4)


def test_transformer_input_is_a_convolution_along_the_sequence():
    """The input projection equals a "same" 1-D convolution of width kernel_size (zero padded)."""
    net = BFNTransformer(4, 9, model_dim=8, num_layers=1, num_heads=2, kernel_size=3)
    theta = tf.random.stateless_uniform([2, 9, 4], [1, 2])
    net((theta, tf.constant([0.2, 0.5])))
    kernel, bias = net.input_dense.kernel.numpy(), net.input_dense.bias.numpy()
    padded = np.pad(theta.numpy(), [(0, 0), (1, 1), (0, 0)])
    taps = kernel.reshape(3, 4, 8)  # [offset -1, 0, +1; K; model_dim]
    expected = bias + sum(padded[:, j : j + 9] @ taps[j] for j in range(3))
    actual = net.input_dense(bfn_networks._sequence_windows(theta, 3))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel_size", [0, 4])
def test_transformer_rejects_even_or_empty_kernel(kernel_size):
    with pytest.raises(ValueError, match="kernel_size"):
        BFNTransformer(3, 6, model_dim=8, num_heads=2, kernel_size=kernel_size)
