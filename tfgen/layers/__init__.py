"""Reusable Keras layers (masked/causal convolutions, gated units, ...).

Every layer is a Keras serializable registered under the package "tfgen"
(`tf.keras.models.load_model` needs no `custom_objects`), and every public
layer goes through the shared test helper `tests/test_case.py`.
"""

from tfgen.layers.act import ACTCell
from tfgen.layers.associative_lstm import (
    AssociativeLSTMCell,
    bound,
    complex_multiply,
    permute_keys,
    random_permutations,
    redundant_read,
    redundant_write,
)
from tfgen.layers.bfn_networks import BFNConvNet, BFNTransformer, TimeEmbedding
from tfgen.layers.bytenet_block import ByteNetBlock, ByteNetStack
from tfgen.layers.causal_conv import CausalConv1D
from tfgen.layers.code_index import CodeIndex, image_fingerprint
from tfgen.layers.draw_attention import (
    AttentionRead,
    AttentionWrite,
    attention_window,
    filterbank,
)
from tfgen.layers.gated import GatedActivation
from tfgen.layers.grid_lstm import GridLSTM1D, GridLSTMBlock, GridLSTMCell
from tfgen.layers.iaf import InverseAutoregressiveFlow
from tfgen.layers.kanerva import KanervaMemory, memory_kl, memory_update
from tfgen.layers.lsh_index import LSHIndex, LSHIndexState, orthogonal_hyperplanes
from tfgen.layers.masked_conv import (
    HorizontalStackConv2D,
    MaskedConv2D,
    ShiftDown,
    VerticalStackConv2D,
    causal_kernel_mask,
    shift_down,
)
from tfgen.layers.memory import (
    DenseMemoryCell,
    MemoryController,
    cosine_similarity,
    least_recently_accessed,
    write_weights,
)
from tfgen.layers.multiplicative import (
    MultiplicativeUnit,
    ResidualMultiplicativeBlock,
    multiplicative_unit,
    split_groups,
)
from tfgen.layers.noisy_dense import NoisyDense, scale_noise, split_noise_seed
from tfgen.layers.ordering import after
from tfgen.layers.pixelcnn_block import GatedPixelCNNBlock, SpatialUpsampler, pointwise
from tfgen.layers.scatter import scatter_per_example
from tfgen.layers.sparse_memory import SparseMemory
from tfgen.layers.sparse_recurrent import SparseRecurrentCell
from tfgen.layers.upsampling import ConditioningUpsampler, upsampling_strides
from tfgen.layers.usage import UsageState, initial_usage, least_recently_used, record_access
from tfgen.layers.wavenet_block import WaveNetBlock, WaveNetStack
from tfgen.layers.wavenet_generation import WaveNetGenerator

__all__ = [
    "ACTCell",
    "AssociativeLSTMCell",
    "AttentionRead",
    "AttentionWrite",
    "BFNConvNet",
    "BFNTransformer",
    "ByteNetBlock",
    "ByteNetStack",
    "CausalConv1D",
    "CodeIndex",
    "ConditioningUpsampler",
    "DenseMemoryCell",
    "GatedActivation",
    "GatedPixelCNNBlock",
    "GridLSTM1D",
    "GridLSTMBlock",
    "GridLSTMCell",
    "HorizontalStackConv2D",
    "InverseAutoregressiveFlow",
    "KanervaMemory",
    "LSHIndex",
    "LSHIndexState",
    "MaskedConv2D",
    "MemoryController",
    "MultiplicativeUnit",
    "NoisyDense",
    "ResidualMultiplicativeBlock",
    "ShiftDown",
    "SparseMemory",
    "SparseRecurrentCell",
    "SpatialUpsampler",
    "TimeEmbedding",
    "UsageState",
    "VerticalStackConv2D",
    "WaveNetBlock",
    "WaveNetGenerator",
    "WaveNetStack",
    "after",
    "attention_window",
    "bound",
    "causal_kernel_mask",
    "complex_multiply",
    "cosine_similarity",
    "filterbank",
    "image_fingerprint",
    "initial_usage",
    "least_recently_accessed",
    "least_recently_used",
    "memory_kl",
    "memory_update",
    "multiplicative_unit",
    "orthogonal_hyperplanes",
    "permute_keys",
    "pointwise",
    "random_permutations",
    "record_access",
    "redundant_read",
    "redundant_write",
    "scale_noise",
    "scatter_per_example",
    "shift_down",
    "split_groups",
    "split_noise_seed",
    "upsampling_strides",
    "write_weights",
]
