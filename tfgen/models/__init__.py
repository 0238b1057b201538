"""One module per paper; each model is a `tf.keras.Model` subclass.

Importing this package registers every model with `tfgen.registry` and, as a
Keras serializable, with `tf.keras.models.load_model`.
"""

from tfgen.models.acn import ACN
from tfgen.models.act import ACTModel
from tfgen.models.associative_lstm import AssociativeLSTMModel
from tfgen.models.base import GenerativeModel
from tfgen.models.bfn import BFNContinuous, BFNDiscrete, BFNDiscreteText, BFNDiscretised
from tfgen.models.bytenet import ByteNetLM, ByteNetTranslator
from tfgen.models.draw import DRAW
from tfgen.models.grid_lstm import GridLSTMModel
from tfgen.models.kanerva import KanervaMachine
from tfgen.models.mixture_vae import MixtureVAE
from tfgen.models.parallel_wavenet import ParallelWaveNet
from tfgen.models.pixelcnn import PixelCNN
from tfgen.models.sam import SAMModel
from tfgen.models.vpn import VideoPixelNetwork
from tfgen.models.wavenet import WaveNet

__all__ = [
    "ACN",
    "ACTModel",
    "AssociativeLSTMModel",
    "BFNContinuous",
    "BFNDiscrete",
    "BFNDiscreteText",
    "BFNDiscretised",
    "ByteNetLM",
    "ByteNetTranslator",
    "DRAW",
    "GenerativeModel",
    "GridLSTMModel",
    "KanervaMachine",
    "MixtureVAE",
    "ParallelWaveNet",
    "PixelCNN",
    "SAMModel",
    "VideoPixelNetwork",
    "WaveNet",
]
