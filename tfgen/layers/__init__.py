"""Reusable Keras layers (masked/causal convolutions, gated units, ...).

Every layer is a Keras serializable registered under the package "tfgen"
(`tf.keras.models.load_model` needs no `custom_objects`), and every public
layer goes through the shared test helper `tests/test_case.py`.
"""

from tfgen.layers.bfn_networks import BFNConvNet, BFNTransformer, TimeEmbedding
from tfgen.layers.causal_conv import CausalConv1D
from tfgen.layers.gated import GatedActivation
from tfgen.layers.iaf import InverseAutoregressiveFlow
from tfgen.layers.masked_conv import (
    HorizontalStackConv2D,
    MaskedConv2D,
    ShiftDown,
    VerticalStackConv2D,
    shift_down,
)
from tfgen.layers.noisy_dense import NoisyDense, scale_noise, split_noise_seed
from tfgen.layers.pixelcnn_block import GatedPixelCNNBlock, SpatialUpsampler
from tfgen.layers.upsampling import ConditioningUpsampler, upsampling_strides
from tfgen.layers.wavenet_block import WaveNetBlock, WaveNetStack

__all__ = [
    "BFNConvNet",
    "BFNTransformer",
    "CausalConv1D",
    "ConditioningUpsampler",
    "GatedActivation",
    "GatedPixelCNNBlock",
    "HorizontalStackConv2D",
    "InverseAutoregressiveFlow",
    "MaskedConv2D",
    "NoisyDense",
    "ShiftDown",
    "SpatialUpsampler",
    "TimeEmbedding",
    "VerticalStackConv2D",
    "WaveNetBlock",
    "WaveNetStack",
    "scale_noise",
    "shift_down",
    "split_noise_seed",
    "upsampling_strides",
]
