"""One module per paper; each model is a `tf.keras.Model` subclass.

Importing this package registers every model with `tfgen.registry` and, as a
Keras serializable, with `tf.keras.models.load_model`.
"""

from tfgen.models.acn import ACN
from tfgen.models.base import GenerativeModel
from tfgen.models.bfn import BFNContinuous, BFNDiscrete, BFNDiscreteText, BFNDiscretised
from tfgen.models.draw import DRAW
from tfgen.models.kanerva import KanervaMachine
from tfgen.models.mixture_vae import MixtureVAE
from tfgen.models.parallel_wavenet import ParallelWaveNet
from tfgen.models.pixelcnn import PixelCNN
from tfgen.models.wavenet import WaveNet

__all__ = [
    "ACN",
    "BFNContinuous",
    "BFNDiscrete",
    "BFNDiscreteText",
    "BFNDiscretised",
    "DRAW",
    "GenerativeModel",
    "KanervaMachine",
    "MixtureVAE",
    "ParallelWaveNet",
    "PixelCNN",
    "WaveNet",
]
