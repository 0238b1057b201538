"""`digits`: scikit-learn's bundled 8x8 hand-written digits.

`sklearn.datasets.load_digits()` holds 1,797 8x8 images with values 0..16.
A fixed split puts 36 per class (360) in `"test"` and the other 1,437 in
`"train"`. The tiny, fast dataset for tests. Views and options are described
in `tfgen.data._images`: `view` in `{"binary" (default), "binary_dynamic",
"grey"}`, `levels` in `[2, 17]` for `"grey"` (17, the raw values, by default).
"""

import functools

from tfgen.data import _images


@functools.lru_cache(maxsize=None)
def _load():
    from sklearn.datasets import load_digits  # Imported late: sklearn is slow to import.

    digits = load_digits()
    return digits.images, digits.target


SOURCE = _images.ImageSource(
    name="digits", load=_load, max_value=16, test_per_class=36, split_seed=1797
)
SOURCE.register()
