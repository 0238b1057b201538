"""What the latent-variable models of images share: input checks, seeds, compiled functions.

`ImageModel` is the base of `DRAW`, `ACN`, `KanervaMachine` and `MixtureVAE`.
It adds no weights: a subclass sets `image_shape` (and `num_levels` if its
pixels are not binary) in its constructor and gets the checked reading of an
`image` feature, the evaluation and training seeds, and a cache of
`tf.function`s.
"""

import math

import tensorflow as tf

from tfgen.checks import check_shape
from tfgen.models.base import GenerativeModel

EVAL_SEED = 0  # The draws of evaluation and `serving_default`: same request, same answer.


def single_channel_shape(image_shape):
    """`image_shape` as a tuple (height, width, 1), or a ValueError that says what arrived."""
    image_shape = check_shape(image_shape, "image_shape", 3)
    if image_shape[2] != 1:
        raise ValueError(
            f"image_shape: expected a single channel (height, width, 1), got {image_shape}."
        )
    return image_shape


def image_feature(features):
    """The `image` entry of a features dict, or `features` itself if it is not a dict."""
    if isinstance(features, dict):
        if "image" not in features:
            raise ValueError(f"features: expected an 'image' key, got {sorted(features)}.")
        features = features["image"]
    return tf.convert_to_tensor(features)


class ImageModel(GenerativeModel):
    """A `GenerativeModel` of images `[batch, *image_shape]` with `num_levels` levels per pixel."""

    num_levels = 2

    @property
    def num_dims(self):
        """The number of pixels, H * W * C."""
        return math.prod(self.image_shape)

    def _image(self, features):
        """The images [B, H, W, C] of `features`, their shape checked."""
        image = image_feature(features)
        if image.shape.rank != 4 or tuple(image.shape[1:]) != self.image_shape:
            raise ValueError(
                f"image: expected shape [batch, {', '.join(map(str, self.image_shape))}], "
                f"got {image.shape}."
            )
        return image

    def _flat_image(self, features):
        """The images of `features` as float [B, H * W * C]."""
        return tf.reshape(tf.cast(self._image(features), tf.float32), [-1, self.num_dims])

    @staticmethod
    def _loss_seed(training):
        """A fresh int64 seed per training step; the fixed evaluation seed otherwise."""
        if training:
            return tf.random.uniform([], 0, 2**62, tf.int64)
        return tf.constant(EVAL_SEED, tf.int64)

    def _function(self, key, fn, jit_compile=False):
        """`tf.function(fn)`, made once per `key` and `jit_compile` (not tracked by Keras)."""
        functions = self.__dict__.setdefault("_functions", {})
        if (key, jit_compile) not in functions:
            functions[key, jit_compile] = tf.function(
                fn, jit_compile=jit_compile, autograph=False, reduce_retracing=True
            )
        return functions[key, jit_compile]

    def example_features(self, batch_size=2, seed=0):
        """Uniformly random images `image` int32 [batch_size, H, W, C] in [0, num_levels)."""
        return {
            "image": tf.random.stateless_uniform(
                [batch_size, *self.image_shape],
                tf.constant([seed, 0], tf.int64),
                0,
                self.num_levels,
                tf.int32,
            )
        }
