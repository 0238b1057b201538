"""Embedded datasets and synthetic tasks as `tf.data.Dataset`s.

Nothing is downloaded: the data ships with the package or its dependencies,
or is generated from a seed.

    from tfgen import data
    data.names()  # ['addition', 'audio', 'copy', 'digits', 'episodic_copy', 'logic', ...]
    data.info("mnist").image_shape  # (28, 28, 1)
    train = data.load("mnist", "train", batch_size=64, view="binary_dynamic")

Every element is a dict of tensors, described per example by
`info(name, **options).features`. Decoded arrays are cached in-process, so
repeated `load` calls are cheap.

- `mnist` (`tfgen.data.mnist`): 5,000 real MNIST digits, 4,000/1,000 split.
- `digits` (`tfgen.data.digits`): scikit-learn's 1,797 8x8 digits.
- `text` (`tfgen.data.text`): Python's bundled help text, as bytes.
- `parity`, `logic`, `addition`, `sort` (ACT), `long_addition` (Grid LSTM),
  `copy`, `repeat_copy` (NTM), `episodic_copy`, `xml`, `variable_assignment`
  (Associative LSTM) (`tfgen.data.algorithmic`): seeded endless streams.
- `audio` (`tfgen.data.audio`): generated 16 kHz tones, chirps and notes.
- `moving_digits` (`tfgen.data.moving_digits`): seeded Moving-MNIST clips, two
  `mnist` digits bouncing in a 64x64 frame, 20 frames (10 given, 10 predicted).
- `parallel_text` (`tfgen.data.parallel_text`): (source, target) byte pairs cut
  from `text`, the target a deterministic rewriting of the source, for ByteNet
  translation.
"""

from tfgen.data import algorithmic, audio, digits, mnist, moving_digits, parallel_text, text  # noqa: F401
from tfgen.data._common import DatasetInfo, info, load, names

__all__ = ["DatasetInfo", "info", "load", "names"]
