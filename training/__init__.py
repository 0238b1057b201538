"""`python -m training`: absl flags, Keras fit loop, strategies, checkpoints.

Library use (the demo calls it in-process):

>>> import training
>>> model, history = training.train("pixelcnn", "digits", steps=100, batch_size=32,
...                                 model_dir="/tmp/run", hparams="num_layers=2")
"""

from training.loop import train
from training.strategies import STRATEGIES, is_chief, make_strategy

__all__ = ["STRATEGIES", "is_chief", "make_strategy", "train"]
