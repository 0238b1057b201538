"""Conditional Gated PixelCNN (van den Oord et al. 2016, arXiv 1606.05328).

The mechanisms (shifted vertical/horizontal stack convolutions, the gated
activation unit, the gated block with class and spatial conditioning, the
learned upsampling of the spatial map) live in `tfgen.layers`; this module
wires them into a `GenerativeModel` with a per-pixel `num_levels`-way softmax.

Sampling runs in raster order inside a `tf.while_loop` over rows and, nested,
over the pixels of a row. Because only the horizontal stack looks at the
current row, the vertical stack is evaluated once per row on the whole image
and the horizontal stack (1-row convolutions) once per pixel on the current
row only; the result is exactly the logits of a full forward pass.
"""

import math

import numpy as np
import tensorflow as tf

from tfgen import noise, registry
from tfgen.checks import check_int, check_shape
from tfgen.layers import GatedPixelCNNBlock, SpatialUpsampler
from tfgen.models.base import GenerativeModel, signature_function


@registry.register(
    "pixelcnn",
    dataset="mnist",
    dataset_options={"view": "binary"},
    data_hparams=lambda info: {
        "image_shape": tuple(info.image_shape),
        "num_levels": info.num_levels,
        "num_labels": info.num_labels or 0,
    },
    signatures=("serving_default", "log_prob", "sample"),
)
class PixelCNN(GenerativeModel):
    """Conditional Gated PixelCNN over single-channel images with `num_levels` levels.

    Args:
      image_shape: (height, width, 1).
      num_levels: int K >= 2, the number of grey levels (2 = binarised).
      num_labels: int, number of class labels for conditioning (one-hot h,
        Eq. 4); 0 for an unconditional model.
      spatial_shape: (h, w, c) of a spatial conditioning map (Eq. 5) whose
        size divides the image size, or None.
      num_layers: int, number of gated blocks (the first uses mask A).
      filters: int p, channels of each stack.
      kernel_size: odd int n of the mask-B blocks.
      first_kernel_size: odd int n of the first (mask-A) block.
      output_filters: channels of the 1x1 ReLU output layer before the softmax.

    Features are dicts: `image` int32 [B, H, W, 1] in [0, K), `label` int32 [B]
    (when `num_labels` > 0) and `spatial` float32 [B, h, w, c] (when
    `spatial_shape` is set).
    """

    metric_names = ("bits_per_dim", "nats_per_example")

    def __init__(
        self,
        image_shape=(28, 28, 1),
        num_levels=2,
        num_labels=10,
        spatial_shape=None,
        num_layers=8,
        filters=32,
        kernel_size=5,
        first_kernel_size=7,
        output_filters=64,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = check_shape(image_shape, "image_shape", 3)
        if self.image_shape[2] != 1:
            raise ValueError(
                f"image_shape: expected a single channel (height, width, 1), got "
                f"{self.image_shape[2]} channels in {self.image_shape}; this "
                f"PixelCNN models grey images only."
            )
        self.num_levels = check_int(num_levels, "num_levels", 2)
        self.num_labels = check_int(num_labels, "num_labels", 0)
        self.spatial_shape = (
            None if spatial_shape is None else check_shape(spatial_shape, "spatial_shape", 3)
        )
        self.num_layers = check_int(num_layers, "num_layers", 1)
        self.filters = check_int(filters, "filters", 1)
        self.kernel_size = check_int(kernel_size, "kernel_size", 1)
        self.first_kernel_size = check_int(first_kernel_size, "first_kernel_size", 3)
        self.output_filters = check_int(output_filters, "output_filters", 1)

        self.blocks = [
            GatedPixelCNNBlock(
                self.filters,
                self.first_kernel_size if i == 0 else self.kernel_size,
                mask_type="A" if i == 0 else "B",
                residual=i > 0,
                label_conditioning=self.num_labels > 0,
                spatial_conditioning=self.spatial_shape is not None,
                vertical_output=i < self.num_layers - 1,
                name=f"gated_block_{i}",
            )
            for i in range(self.num_layers)
        ]
        self.upsampler = (
            SpatialUpsampler(self.image_shape[:2], self.filters, name="upsampler")
            if self.spatial_shape is not None
            else None
        )
        # Output layers (PixelRNN/PixelCNN Sec. 3.4): ReLU, 1x1, ReLU, 1x1 -> softmax logits.
        self.output_hidden = tf.keras.layers.Conv2D(
            self.output_filters, 1, activation="relu", name="output_hidden"
        )
        self.output_logits = tf.keras.layers.Conv2D(
            self.image_shape[2] * self.num_levels, 1, name="output_logits"
        )
        # Compiled samplers, kept out of Keras/SavedModel tracking.
        object.__setattr__(self, "_samplers", {})

    @property
    def num_dims(self):
        return int(np.prod(self.image_shape))

    # ----------------------------------------------------------------- inputs
    def _preprocess(self, image):
        """Integer levels [.., H, W, 1] -> floats in [-1, 1]."""
        return tf.cast(image, tf.float32) * (2.0 / (self.num_levels - 1)) - 1.0

    def _check_features(self, features):
        if not isinstance(features, dict):
            raise TypeError(
                f"features: expected a dict with 'image'"
                f"{', label' if self.num_labels else ''}, got "
                f"{type(features).__name__}."
            )
        if "image" not in features:
            raise ValueError(f"features: expected an 'image' key, got {sorted(features)}.")
        image = tf.convert_to_tensor(features["image"])
        if image.shape.rank != 4 or tuple(image.shape[1:]) != self.image_shape:
            raise ValueError(
                f"image: expected shape [batch, {', '.join(map(str, self.image_shape))}]"
                f", got {image.shape}."
            )
        label = spatial = None
        if self.num_labels:
            if features.get("label") is None:
                raise ValueError(
                    f"features: expected a 'label' key (num_labels="
                    f"{self.num_labels}), got {sorted(features)}."
                )
            label = tf.convert_to_tensor(features["label"])
        if self.spatial_shape is not None:
            if features.get("spatial") is None:
                raise ValueError(
                    f"features: expected a 'spatial' key (spatial_shape="
                    f"{self.spatial_shape}), got {sorted(features)}."
                )
            spatial = self._check_spatial(features["spatial"])
        return image, label, spatial

    def _check_spatial(self, spatial):
        spatial = tf.convert_to_tensor(spatial, tf.float32)
        if spatial.shape.rank != 4 or tuple(spatial.shape[1:]) != self.spatial_shape:
            raise ValueError(
                f"spatial: expected shape [batch, "
                f"{', '.join(map(str, self.spatial_shape))}], got {spatial.shape}."
            )
        return spatial

    def _one_hot(self, label):
        """One-hot class labels h [B, num_labels], or None when unconditional."""
        if not self.num_labels:
            return None
        label = tf.convert_to_tensor(label)
        if label.shape.rank != 1:
            raise ValueError(f"label: expected shape [batch], got {label.shape}.")
        if label.dtype.is_floating or label.dtype == tf.bool:
            raise TypeError(f"label: expected an integer dtype, got {label.dtype.name}.")
        return tf.one_hot(tf.cast(label, tf.int32), self.num_labels)

    def _conditioning(self, label, spatial):
        """One-hot h [B, num_labels] and upsampled m(s) [B, H, W, filters] (or None)."""
        s = self.upsampler(spatial) if self.spatial_shape is not None else None
        return self._one_hot(label), s

    # ---------------------------------------------------------------- network
    def _head(self, x_h):
        logits = self.output_logits(self.output_hidden(tf.nn.relu(x_h)))
        shape = tf.shape(logits)
        return tf.reshape(
            logits, tf.concat([shape[:3], [self.image_shape[2], self.num_levels]], axis=0)
        )

    def network(self, x, h=None, s=None):
        """The network on float inputs, for gradient (causality) checks.

        Args:
          x: float32 [B, H, W, 1], the image scaled to [-1, 1].
          h: float32 [B, num_labels] one-hot labels, or None.
          s: float32 [B, H, W, filters], the upsampled spatial map m(s), or None.

        Returns:
          Logits [B, H, W, 1, num_levels].
        """
        v = x_h = x
        for block in self.blocks:
            v, x_h = block((v, x_h), label=h, spatial=s)
        return self._head(x_h)

    def _vertical_links(self, image, h, s):
        """The vertical stack on the whole image: each block's link to the horizontal stack."""
        v = self._preprocess(image)
        links = []
        for block in self.blocks:
            v, link = block.vertical_step(v, h, s)
            links.append(link)
        return links

    def _row_logits(self, row, links_row, h, s_row):
        """Logits [B, 1, W, 1, K] of one row given its pixels [B, 1, W, 1] and its links."""
        x_h = self._preprocess(row)
        for block, link in zip(self.blocks, links_row):
            x_h = block.horizontal_step(x_h, link, h, s_row)
        return self._head(x_h)

    def call(self, features, training=False):
        """Logits [B, H, W, 1, num_levels] of p(x_ij | x_<ij, h, s)."""
        image, label, spatial = self._check_features(features)
        h, s = self._conditioning(label, spatial)
        return self.network(self._preprocess(image), h, s)

    # --------------------------------------------------------------- density
    def _log_prob_from_logits(self, logits, image):
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        one_hot = tf.one_hot(tf.cast(image, tf.int32), self.num_levels, dtype=log_probs.dtype)
        return tf.reduce_sum(one_hot * log_probs, axis=[1, 2, 3, 4])

    def log_prob_given(self, image, h=None, spatial=None):
        """log p(x | h, s) [B] in nats, for a decoder conditioned on any vector h.

        1606.05328 Eqs. 4-5 need not take a one-hot class: h can be any
        embedding, such as the latent code of a model that uses this PixelCNN as
        its decoder (`tfgen.models.acn`).

        Args:
          image: int [B, H, W, C] in [0, num_levels).
          h: float32 [B, num_labels], or None if `num_labels` is 0.
          spatial: float32 [B, *spatial_shape], or None without `spatial_shape`.
        """
        s = self.upsampler(spatial) if spatial is not None else None
        return self._log_prob_from_logits(self.network(self._preprocess(image), h, s), image)

    def compute_losses(self, features, training=False):
        image = self._check_features(features)[0]
        log_prob = self._log_prob_from_logits(self(features, training=training), image)
        nats = -log_prob
        bits_per_dim = nats / (self.num_dims * math.log(2.0))
        loss = tf.reduce_mean(nats) / self.num_dims
        return loss, {"bits_per_dim": bits_per_dim, "nats_per_example": nats}

    def log_prob(self, features, labels=None, spatial=None):
        """Per-example log-likelihood in nats [B].

        Args:
          features: a feature dict, or an image tensor [B, H, W, 1] with the
            conditioning in `labels` / `spatial`.
        """
        if not isinstance(features, dict):
            features = {"image": features, "label": labels, "spatial": spatial}
        image = self._check_features(features)[0]
        return self._log_prob_from_logits(self(features), image)

    # -------------------------------------------------------------- sampling
    def sample_given(self, h, spatial, uniform, temperature):
        """Raster-order sampling: a tf.while_loop over rows, nested over columns.

        `uniform` holds one uniform (0, 1) number per pixel, [N, H, W, 1]; pixel
        (i, j) takes the level where the CDF of softmax(logits / temperature)
        first exceeds its uniform (inverse-CDF sampling of the categorical).
        As in `log_prob_given`, h is any float conditioning vector [N,
        num_labels] (one-hot labels for a class-conditional model) or None.

        Returns:
          int32 images [N, H, W, C].
        """
        height, width, channels = self.image_shape
        s = self.upsampler(spatial) if spatial is not None else None
        temperature = tf.cast(temperature, tf.float32)
        rows = tf.range(height)[None, :, None, None]
        cols = tf.range(width)[None, None, :, None]

        def row_body(i, image):
            links_row = [link[:, i : i + 1] for link in self._vertical_links(image, h, s)]
            s_row = s[:, i : i + 1] if s is not None else None

            def col_body(j, row):
                logits = self._row_logits(row, links_row, h, s_row)[:, 0, j]  # [N, 1, K]
                value = noise.categorical_from_uniform(logits / temperature, uniform[:, i, j])
                return j + 1, tf.where(cols == j, value[:, None, None, :], row)

            _, row = tf.while_loop(
                lambda j, _: j < width, col_body, (tf.constant(0), image[:, i : i + 1])
            )
            return i + 1, tf.where(rows == i, row, image)

        image = tf.zeros_like(uniform, tf.int32)
        _, image = tf.while_loop(lambda i, _: i < height, row_body, (tf.constant(0), image))
        return image

    def _sampler(self, jit_compile):
        if jit_compile not in self._samplers:
            self._samplers[jit_compile] = tf.function(
                self.sample_given, jit_compile=jit_compile, autograph=False, reduce_retracing=True
            )
        return self._samplers[jit_compile]

    def _sample_graph(self, num_samples, labels, spatial, seed, temperature, jit_compile):
        """Draws the per-pixel noise from `seed`, then runs the (compiled) loop.

        `tfgen.noise` draws the noise so that the XLA and plain-graph samplers
        (and a signature compiled whole with XLA) give the same samples for
        the same seed.
        """
        h = self._one_hot(labels)
        uniform = noise.uniform_from_seed(tf.stack([num_samples, *self.image_shape]), seed)
        loop = self._sampler(True) if jit_compile else self.sample_given
        return loop(h, spatial, uniform, temperature)

    def _num_samples(self, num_samples, labels, spatial):
        if labels is not None:
            return tf.shape(labels)[0]
        if spatial is not None:
            return tf.shape(spatial)[0]
        return tf.convert_to_tensor(num_samples, tf.int32)

    def sample(
        self,
        num_samples=None,
        labels=None,
        spatial=None,
        seed=None,
        temperature=1.0,
        jit_compile=True,
    ):
        """Samples images int32 [N, H, W, 1] in raster order.

        Args:
          num_samples: int N; may be None when `labels` or `spatial` give N.
          labels: int [N] class labels (required when `num_labels` > 0).
          spatial: float32 [N, h, w, c] spatial conditioning (when configured).
          seed: int; the same seed gives the same samples (with either
            `jit_compile`). None draws one.
          temperature: float > 0 dividing the logits.
          jit_compile: run the sampling loop under XLA (default) or as a plain
            graph while loop.
        """
        if self.num_labels and labels is None:
            raise ValueError(
                f"labels: expected int labels [N] for a model with num_labels="
                f"{self.num_labels}, got None."
            )
        if self.spatial_shape is not None:
            if spatial is None:
                raise ValueError(
                    f"spatial: expected a float32 [N, "
                    f"{', '.join(map(str, self.spatial_shape))}] map, got None."
                )
            spatial = self._check_spatial(spatial)
        if not self.num_labels:
            labels = None
        if labels is not None:
            labels = tf.convert_to_tensor(labels, tf.int32)
            if num_samples is not None and int(num_samples) != int(labels.shape[0]):
                raise ValueError(
                    f"num_samples: expected {labels.shape[0]} (the number of "
                    f"labels), got {num_samples}."
                )
        elif spatial is None and num_samples is None:
            raise ValueError("num_samples: expected an int, got None.")
        if temperature <= 0:
            raise ValueError(f"temperature: expected a positive float, got {temperature}.")
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        self.build_example()
        n = self._num_samples(num_samples, labels, spatial)
        return self._sample_graph(
            n,
            labels,
            spatial,
            tf.constant(seed, tf.int64),
            tf.constant(temperature, tf.float32),
            bool(jit_compile),
        )

    # ---------------------------------------------------------------- export
    def example_features(self, batch_size=2, seed=0):
        height, width, channels = self.image_shape
        keys = tf.random.split(tf.constant([seed, 0], tf.int64), 3)
        features = {
            "image": tf.random.stateless_uniform(
                [batch_size, height, width, channels], keys[0], 0, self.num_levels, tf.int32
            )
        }
        if self.num_labels:
            features["label"] = tf.random.stateless_uniform(
                [batch_size], keys[1], 0, self.num_labels, tf.int32
            )
        if self.spatial_shape is not None:
            features["spatial"] = tf.random.stateless_normal(
                [batch_size, *self.spatial_shape], keys[2]
            )
        return features

    def _conditioning_specs(self):
        specs = {}
        if self.num_labels:
            specs["label"] = tf.TensorSpec([None], tf.int32, name="label")
        if self.spatial_shape is not None:
            specs["spatial"] = tf.TensorSpec(
                [None, *self.spatial_shape], tf.float32, name="spatial"
            )
        return specs

    def signatures(self, jit_compile=False):
        """`serving_default`, `log_prob` and `sample` as `tf.function`s.

        Args:
          jit_compile: compile the sampling loop with XLA (else a plain graph
            while loop that any TF Serving build runs).
        """
        self.build_example()
        image_spec = tf.TensorSpec([None, *self.image_shape], tf.int32, name="image")
        conditioning = self._conditioning_specs()
        density_specs = [image_spec, *conditioning.values()]

        def density(**features):
            log_prob = self.log_prob(features)
            return {
                "log_prob": log_prob,
                "bits_per_dim": -log_prob / (self.num_dims * math.log(2.0)),
            }

        sample_specs = list(conditioning.values())
        if not conditioning:
            sample_specs.append(tf.TensorSpec([], tf.int32, name="num_samples"))
        sample_specs += [
            tf.TensorSpec([], tf.int64, name="seed"),
            tf.TensorSpec([], tf.float32, name="temperature"),
        ]

        def sample(seed, temperature, label=None, spatial=None, num_samples=None):
            n = self._num_samples(num_samples, label, spatial)
            return {"image": self._sample_graph(n, label, spatial, seed, temperature, jit_compile)}

        return {
            "serving_default": signature_function(density, density_specs),
            "log_prob": signature_function(density, density_specs),
            "sample": signature_function(sample, sample_specs),
        }
