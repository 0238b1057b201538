"""Conditional Gated PixelCNN (van den Oord et al. 2016, arXiv 1606.05328).

The mechanisms (shifted vertical/horizontal stack convolutions, the gated
activation unit, the gated block with class and spatial conditioning, the
learned upsampling of the spatial map) live in `tfgen.layers`; this module
wires them into a `GenerativeModel` with a per-pixel `num_levels`-way softmax.

Sampling runs in raster order inside a `tf.while_loop` over rows and, nested,
over the pixels of a row. The default, `method="fast"`, caches as in
Ramachandran et al. 2017 ("Fast Generation for Convolutional Autoregressive
Models", arXiv 1704.06001): once a row is sampled, each block's vertical stack
runs on that row only, from a ring cache of its input rows above; per pixel,
each block's horizontal stack and the output layers run at that pixel only,
from a cache of the row's earlier inputs. Each step is a few matrix products
(the taps of each kernel gathered from the caches, times the reshaped kernel),
so that the loop compiles well with XLA; in all, the sampler does the
multiply-adds of one forward pass per image. `method="naive"`, the reference,
runs the vertical stack on the whole image once per row and the horizontal
stack on the whole row once per pixel. Both give exactly the logits of a full
forward pass (up to float rounding), hence the same samples for the same seed.
"""

import math

import numpy as np
import tensorflow as tf

from tfgen import noise, registry
from tfgen.checks import check_choice, check_int, check_shape
from tfgen.layers.pixelcnn_block import GatedPixelCNNBlock, SpatialUpsampler, pointwise
from tfgen.models.base import GenerativeModel
from tfgen.signatures import signature_function

METHODS = ("fast", "naive")

# The sampling loops branch in Python on static facts only (layers, None checks): AutoGraph
# has nothing to convert there, and skipping it makes tracing (e.g. the export signatures)
# several times faster.
_static = tf.autograph.experimental.do_not_convert


def _row_of(condition, i):
    """Row i [N, W or 1, C] of a conditioning term [N, H or 1, W or 1, C] (or None)."""
    if condition is None:
        return None
    return condition[:, 0] if condition.shape[1] == 1 else condition[:, i]


def _pixel_biases(links, conditions, i):
    """What each block's h_pre adds at row i besides its convolution: [W, L, N, 2p]."""
    terms = [
        link if condition is None else link + _row_of(condition, i)
        for link, condition in zip(links, conditions)
    ]
    return tf.transpose(tf.stack(terms), [2, 0, 1, 3])


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
    @_static
    def sample_given(self, h, spatial, uniform, temperature, method="fast"):
        """Raster-order sampling given the conditioning and one uniform number per pixel.

        `uniform` holds one uniform (0, 1) number per pixel, [N, H, W, 1]; pixel
        (i, j) takes the level where the CDF of softmax(logits / temperature)
        first exceeds its uniform (inverse-CDF sampling of the categorical).
        As in `log_prob_given`, h is any float conditioning vector [N,
        num_labels] (one-hot labels for a class-conditional model) or None.

        Args:
          h: float32 [N, num_labels], or None.
          spatial: float32 [N, *spatial_shape] (before upsampling), or None.
          uniform: float32 [N, H, W, 1] in (0, 1).
          temperature: float32 scalar > 0.
          method: "fast" (cached, arXiv 1704.06001: per row, the vertical
            stack on that row only; per pixel, the horizontal stack and the
            output layers at that pixel only, from per-layer caches) or
            "naive" (per row, the vertical stack on the whole image; per
            pixel, the horizontal stack on the whole row). Both give the same
            samples for the same uniforms, up to float rounding at a CDF
            boundary.

        Returns:
          int32 images [N, H, W, 1].
        """
        check_choice(method, "method", METHODS)
        s = self.upsampler(spatial) if spatial is not None else None
        loop = self._fast_loop if method == "fast" else self._naive_loop
        return loop(h, s, uniform, tf.cast(temperature, tf.float32))

    def _naive_loop(self, h, s, uniform, temperature):
        """A tf.while_loop over rows, nested over columns, re-running whole stacks."""
        height, width, _ = self.image_shape
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
                lambda j, _: j < width,
                col_body,
                (tf.constant(0), image[:, i : i + 1]),
                maximum_iterations=width,
            )
            return i + 1, tf.where(rows == i, row, image)

        image = tf.zeros_like(uniform, tf.int32)
        _, image = tf.while_loop(
            lambda i, _: i < height, row_body, (tf.constant(0), image), maximum_iterations=height
        )
        return image

    # 1704.06001 (cached generation) on 1606.05328 Fig. 2: each layer's work done once.
    def _fast_loop(self, h, s, uniform, temperature):
        """Cached sampling: a tf.while_loop over rows, nested over the pixels of a row.

        Per pixel (i, j), each block runs its horizontal stack at (i, j) only,
        from a cache of its inputs at (i, j - k//2 .. j - 1); the output layers
        run at (i, j) only. Once row i is sampled, each block runs its vertical
        stack on row i only, from a ring cache of its inputs at rows i - k//2
        .. i, which gives the links the horizontal stacks add at row i + 1.
        Caches are preallocated and updated in place
        (`tf.tensor_scatter_nd_update` on loop-carried tensors).
        """
        height, width, _ = self.image_shape
        batch = tf.shape(uniform)[0]
        u = tf.transpose(uniform[..., 0], [1, 2, 0])  # [H, W, N]
        vertical_conditions = [
            block.conditioning(h, s, "vertical") if block.vertical_output else None
            for block in self.blocks
        ]
        horizontal_conditions = [block.conditioning(h, s, "horizontal") for block in self.blocks]
        rings = [
            tf.zeros(
                tf.stack([block.kernel_size // 2 + 1, batch, width + block.kernel_size // 2 * 2, c])
            )
            for block, c in zip(self.blocks, self._stack_channels())
        ]
        # Row 0 sees no vertical stack: its links are Conv1x1(0) (the down shift's zeros).
        links = [
            pointwise(block.link, tf.zeros(tf.stack([batch, width, 2 * self.filters])))
            for block in self.blocks
        ]

        def row_body(i, image, rings, links):
            biases = _pixel_biases(links, horizontal_conditions, i)
            row = self._fast_row(biases, u[i], temperature)
            rings, links = self._vertical_rows(i, row, rings, vertical_conditions)
            return i + 1, tf.tensor_scatter_nd_update(image, [[i]], row[None]), rings, links

        image = tf.zeros(tf.stack([height, width, batch]), tf.int32)
        _, image, _, _ = tf.while_loop(
            lambda i, *_: i < height,
            row_body,
            (tf.constant(0), image, rings, links),
            maximum_iterations=height,
        )
        return tf.transpose(image, [2, 0, 1])[..., None]

    def _stack_channels(self):
        """The input channels of each block's stacks: 1 (the image), then `filters`."""
        return [self.image_shape[2]] + [self.filters] * (self.num_layers - 1)

    def _fast_row(self, biases, u_row, temperature):
        """One sampled row int32 [W, N] from the pixel biases [W, L, N, 2p] and uniforms [W, N]."""
        width = self.image_shape[1]
        batch = tf.shape(u_row)[1]
        caches = [
            tf.zeros(tf.stack([width + block.kernel_size // 2, batch, c]))
            for block, c in zip(self.blocks, self._stack_channels())
        ]

        def pixel_body(j, row, caches):
            x_h, caches = None, list(caches)
            for index, (block, bias) in enumerate(zip(self.blocks, tf.unstack(biases[j]))):
                left = block.kernel_size // 2
                if x_h is not None:  # Written before the read, so XLA updates it in place.
                    caches[index] = tf.tensor_scatter_nd_update(
                        caches[index], [[j + left]], x_h[None]
                    )
                past = tf.slice(caches[index], tf.stack([j, 0, 0]), [left, -1, -1])
                x_h = block.horizontal_pixel(x_h, tf.transpose(past, [1, 0, 2]), bias)
            logits = self._pixel_logits(x_h)
            value = noise.categorical_from_uniform(logits / temperature, u_row[j])
            # The sampled pixel joins the first (mask A) block's cache.
            left = self.blocks[0].kernel_size // 2
            caches[0] = tf.tensor_scatter_nd_update(
                caches[0], [[j + left]], self._preprocess(value)[None, :, None]
            )
            return j + 1, tf.tensor_scatter_nd_update(row, [[j]], value[None]), caches

        row = tf.zeros(tf.stack([width, batch]), tf.int32)
        _, row, _ = tf.while_loop(
            lambda j, *_: j < width,
            pixel_body,
            (tf.constant(0), row, caches),
            maximum_iterations=width,
        )
        return row

    def _vertical_rows(self, i, row, rings, conditions):
        """Row i of every block's vertical stack, once row i is sampled: new rings and links."""
        v = tf.transpose(self._preprocess(row))[..., None]  # [N, W, 1]
        new_rings, links = [], []
        for block, ring, condition in zip(self.blocks, rings, conditions):
            q = block.kernel_size // 2
            ring = tf.tensor_scatter_nd_update(
                ring, [[tf.math.floormod(i, q + 1)]], tf.pad(v, [[0, 0], [q, q], [0, 0]])[None]
            )
            slots = tf.math.floormod(i + 1 + tf.range(q + 1), q + 1)  # rows i - q .. i
            window = tf.transpose(tf.gather(ring, slots), [1, 0, 2, 3])
            v, link = block.vertical_row(window, _row_of(condition, i))
            new_rings.append(ring)
            links.append(link)
        return new_rings, links

    def _pixel_logits(self, x_h):
        """The output layers at one pixel: x_h [N, p] -> logits [N, K]."""
        return pointwise(self.output_logits, pointwise(self.output_hidden, tf.nn.relu(x_h)))

    @_static
    def _sample_graph(self, num_samples, labels, spatial, seed, temperature, jit_compile, method):
        """Draws the per-pixel noise from `seed`, then runs the (compiled) loop.

        `tfgen.noise` draws the noise so that the XLA and plain-graph samplers
        (and a signature compiled whole with XLA) give the same samples for
        the same seed.
        """
        h = self._one_hot(labels)
        uniform = noise.uniform_from_seed(tf.stack([num_samples, *self.image_shape]), seed)
        return self._loop(jit_compile, method)(h, spatial, uniform, temperature)

    def _loop(self, jit_compile, method):
        """`sample_given` with `method`, compiled with XLA (one function per method) or not."""

        def loop(h, spatial, uniform, temperature):
            return self.sample_given(h, spatial, uniform, temperature, method)

        if not jit_compile:
            return loop
        key = ("xla_loop", method)
        if key not in self._samplers:
            self._samplers[key] = tf.function(
                loop, jit_compile=True, autograph=False, reduce_retracing=True
            )
        return self._samplers[key]

    def _sampler(self, jit_compile, method):
        """`_sample_graph` as one tf.function per (jit_compile, method): never run eagerly."""
        key = ("sample", jit_compile, method)
        if key not in self._samplers:

            def sample(num_samples, labels, spatial, seed, temperature):
                return self._sample_graph(
                    num_samples, labels, spatial, seed, temperature, jit_compile, method
                )

            self._samplers[key] = tf.function(sample, autograph=False, reduce_retracing=True)
        return self._samplers[key]

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
        method="fast",
    ):
        """Samples images int32 [N, H, W, 1] in raster order.

        Args:
          num_samples: int N; may be None when `labels` or `spatial` give N.
          labels: int [N] class labels (required when `num_labels` > 0).
          spatial: float32 [N, h, w, c] spatial conditioning (when configured).
          seed: int; the same seed gives the same samples (with either
            `jit_compile` and either `method`). None draws one.
          temperature: float > 0 dividing the logits.
          jit_compile: run the sampling loop under XLA, or as a plain graph
            while loop (a `tf.function`, never op by op).
          method: "fast" (cached sampling, arXiv 1704.06001) or "naive" (the
            reference that re-runs whole stacks); see `sample_given`.
        """
        check_choice(method, "method", METHODS)
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
        return self._sampler(bool(jit_compile), method)(
            n, labels, spatial, tf.constant(seed, tf.int64), tf.constant(temperature, tf.float32)
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

        `sample` runs the cached ("fast") sampler, `sample_given(method="fast")`.

        Args:
          jit_compile: compile the sampling loop with XLA (faster on CPU, see
            the `pixelcnn_sampling` bench) or not (a plain graph while loop,
            which any TF Serving build runs).
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
            image = self._sample_graph(n, label, spatial, seed, temperature, jit_compile, "fast")
            return {"image": image}

        ranges = {"image": (0, self.num_levels - 1)}
        if self.num_labels:
            ranges["label"] = (0, self.num_labels - 1)
        label_range = {k: v for k, v in ranges.items() if k == "label"}
        return {
            "serving_default": signature_function(density, density_specs, ranges),
            "log_prob": signature_function(density, density_specs, ranges),
            "sample": signature_function(sample, sample_specs, label_range),
        }
