"""Reusable Keras layers (masked/causal convolutions, gated units, ...)."""

from tfgen.layers.gated import GatedActivation
from tfgen.layers.masked_conv import (
                                      HorizontalStackConv2D,
                                      MaskedConv2D,
                                      ShiftDown,
                                      VerticalStackConv2D,
                                      shift_down,
)
from tfgen.layers.noisy_dense import NoisyDense
from tfgen.layers.pixelcnn_block import GatedPixelCNNBlock, SpatialUpsampler

__all__ = [
    "GatedActivation",
    "GatedPixelCNNBlock",
    "HorizontalStackConv2D",
    "MaskedConv2D",
    "NoisyDense",
    "ShiftDown",
    "SpatialUpsampler",
    "VerticalStackConv2D",
    "shift_down",
]
