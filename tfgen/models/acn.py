"""Associative Compression Networks (Graves, Menick and van den Oord 2018, arXiv 1804.02476).

An ACN is a VAE whose prior is conditioned on the code of a neighbour (Sec. 3):

- the encoder maps an image x to its code c; the posterior q(z|x) is a
  unit-variance diagonal Gaussian with mean c;
- a neighbour code c~ is drawn uniformly from KNN(x), the K nearest codes to c
  among the codes of all the training data, x itself excluded
  (`tfgen.layers.CodeIndex`, refreshed with the codes of every training batch);
- the prior network (an MLP) maps c~ to p(z|c~), a mixture of diagonal
  Gaussians;
- the decoder r(x|z) is a Gated PixelCNN (`PixelCNN`, arXiv 1606.05328)
  conditioned on z twice: z is its global conditioning vector h (its Eq. 4,
  the same bias at every pixel) and, through a dense layer to a map at a
  quarter of the image resolution and its learned upsampling, its spatial
  conditioning s (Eq. 5, where z can say where strokes go).

The loss is `L^ACN(x) = E_{c~ in KNN(x)} KL(q(z|x) || p(z|c~)) - E_q[log r(x|z)]`,
in nats per image, an upper bound on the cost of coding x given c~. The KL to a
mixture has no closed form: it is estimated with the same posterior sample z
that the reconstruction term uses. With `associative=False` the prior network
sees a zero code instead of c~: p(z) is then a learned unconditional mixture,
the ablation with an unconditional prior.

Outside training (evaluation, `log_prob`, the export signatures) the neighbour
is deterministic: the nearest stored code that is not the example's own
(stored rows are keyed by `image_fingerprint`, so a training image served back
is recognised as itself).

"Daydreaming", the paper's sampling procedure: from a code c, draw
z ~ p(z|c) (a neighbour's code), decode x ~ r(x|z), encode x to its code, and
repeat; `daydream` starts from images and `sample` from stored training codes.
Each step samples the PixelCNN with its raster `tf.while_loop`, inside a
`tf.while_loop` over steps, with noise from `tfgen.noise` (the same seed gives
the same chain with and without XLA).
"""

import math

import numpy as np
import tensorflow as tf

from tfgen import noise, registry
from tfgen.checks import check_int, check_shape
from tfgen.distributions.mixture import MixtureOfDiagonalGaussians
from tfgen.layers import CodeIndex, image_fingerprint
from tfgen.models.image_model import EVAL_SEED, ImageModel
from tfgen.models.pixelcnn import PixelCNN
from tfgen.signatures import signature_function

# Every Python branch here is static (flags, None checks), so AutoGraph has nothing to convert:
# skipping it cuts the tracing of a training step about threefold.
_static = tf.autograph.experimental.do_not_convert

_START_STREAM = -1  # Noise stream choosing the stored codes `sample` starts from.
_STREAMS_PER_STEP = 3  # Mixture component, Gaussian noise and pixel noise of a daydream step.


@registry.register(
    "acn",
    dataset="mnist",
    dataset_options={"view": "binary"},
    data_hparams=lambda info: {
        "image_shape": tuple(info.image_shape),
        "num_levels": info.num_levels,
        "num_train_examples": info.num_examples["train"],
    },
    signatures=("serving_default", "log_prob", "sample", "daydream"),
)
class ACN(ImageModel):
    """Associative Compression Network with a Gated PixelCNN decoder.

    Args:
      image_shape: (height, width, 1).
      num_levels: int, levels per pixel (2 = binarised).
      latent_dim: int D, the size of the code c and of z.
      hidden_units: int, width of the two ReLU layers of the encoder and of
        the prior network.
      num_components: int, mixture components of the prior p(z|c~).
      num_neighbours: int K, the neighbour is drawn from the K nearest codes.
      associative: bool; False gives the unconditional-prior ablation (the
        prior network sees a zero code: a learned mixture p(z)).
      num_train_examples: int N, the capacity of the code index (the size of
        the training set).
      num_layers, filters, kernel_size, first_kernel_size, output_filters: the
        decoder's Gated PixelCNN (see `PixelCNN`). Its spatial conditioning
        map, a dense layer of z, has `filters` channels at a quarter of the
        image's height and width (the full size where 4 does not divide it).

    Features are dicts with `image` int32 [B, H, W, 1] in [0, num_levels)
    (other keys are ignored). Calling the model returns the per-example coding
    cost [B] in nats (KL + reconstruction, nearest neighbour, one fixed z-draw).
    """

    metric_names = ("nats_per_example", "kl", "reconstruction")

    def __init__(
        self,
        image_shape=(28, 28, 1),
        num_levels=2,
        latent_dim=16,
        hidden_units=256,
        num_components=10,
        num_neighbours=5,
        associative=True,
        num_train_examples=4000,
        num_layers=4,
        filters=16,
        kernel_size=5,
        first_kernel_size=7,
        output_filters=64,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = check_shape(image_shape, "image_shape", 3)
        self.num_levels = check_int(num_levels, "num_levels", 2)
        self.latent_dim = check_int(latent_dim, "latent_dim", 1)
        self.hidden_units = check_int(hidden_units, "hidden_units", 1)
        self.num_components = check_int(num_components, "num_components", 1)
        if not isinstance(associative, bool):
            raise TypeError(f"associative: expected a bool, got {associative!r}.")
        self.associative = associative
        k, d = self.num_components, self.latent_dim

        def mlp(name):
            return [
                tf.keras.layers.Dense(self.hidden_units, "relu", name=f"{name}_{i}")
                for i in range(2)
            ]

        # Sec. 3: the code c is the mean of the unit-variance Gaussian q(z|x).
        self.encoder = tf.keras.Sequential(
            mlp("encoder") + [tf.keras.layers.Dense(d, name="code")], name="encoder"
        )
        # Sec. 3: the prior network maps c~ to p(z|c~), here a mixture of diagonal Gaussians.
        self.prior_network = tf.keras.Sequential(mlp("prior"), name="prior_network")
        self.prior_logits = tf.keras.layers.Dense(k, name="prior_logits")
        self.prior_loc = tf.keras.layers.Dense(k * d, name="prior_loc")
        self.prior_scale = tf.keras.layers.Dense(k * d, name="prior_scale")
        self.code_index = CodeIndex(
            check_int(num_train_examples, "num_train_examples", 2),
            d,
            num_neighbours,
            name="code_index",
        )
        # r(x|z): a Gated PixelCNN with h = z (its Eq. 4) and s = a map of z (its Eq. 5).
        self.spatial_shape = (
            *(n // 4 if n % 4 == 0 else n for n in self.image_shape[:2]),
            check_int(filters, "filters", 1),
        )
        self.latent_map = tf.keras.layers.Dense(math.prod(self.spatial_shape), name="latent_map")
        self.decoder = PixelCNN(
            self.image_shape,
            self.num_levels,
            num_labels=d,
            spatial_shape=self.spatial_shape,
            num_layers=num_layers,
            filters=filters,
            kernel_size=kernel_size,
            first_kernel_size=first_kernel_size,
            output_filters=output_filters,
            name="decoder",
        )

    @property
    def num_neighbours(self):
        return self.code_index.num_neighbours

    # ---------------------------------------------------------------- network
    def _image(self, features):
        image = super()._image(features)
        if not image.dtype.is_integer:
            raise TypeError(f"image: expected integer levels, got {image.dtype.name}.")
        return image

    def encode(self, image):
        """The codes c [B, D] of images int [B, H, W, 1]: the means of q(z|x)."""
        x = tf.cast(image, tf.float32) * (2.0 / (self.num_levels - 1)) - 1.0
        return self.encoder(tf.reshape(x, [-1, math.prod(self.image_shape)]))

    def prior(self, neighbour_code):
        """p(z|c~): a `MixtureOfDiagonalGaussians` with batch [B], from codes c~ [B, D]."""
        if not self.associative:  # The ablation: the same network on a constant input.
            neighbour_code = tf.zeros_like(neighbour_code)
        h = self.prior_network(neighbour_code)
        shape = [-1, self.num_components, self.latent_dim]
        return MixtureOfDiagonalGaussians(
            self.prior_logits(h),
            tf.reshape(self.prior_loc(h), shape),
            tf.reshape(tf.nn.softplus(self.prior_scale(h)) + 1e-4, shape),
        )

    def posterior(self, code):
        """q(z|x) = N(c, I) (Sec. 3) as a one-component mixture, for codes c [B, D]."""
        return MixtureOfDiagonalGaussians(
            tf.zeros_like(code[:, :1]), code[:, None, :], tf.ones_like(code[:, None, :])
        )

    def _costs(self, image, code, neighbour_code, seed):
        """KL(q(z|x) || p(z|c~)) [B] and -log r(x|z) [B] in nats, one z ~ q(z|x)."""
        z = code + noise.normal_from_seed(tf.shape(code), noise.stream_seed(seed, 0))
        # Sec. 3, L^ACN: the KL to the mixture prior, a single-sample Monte Carlo estimate.
        kl = self.posterior(code).log_prob(z) - self.prior(neighbour_code).log_prob(z)
        return kl, -self.decoder.log_prob_given(image, h=z, spatial=self._spatial(z))

    def _spatial(self, z):
        """The decoder's low-resolution spatial conditioning map [B, h, w, filters] of z [B, D]."""
        return tf.reshape(self.latent_map(z), [-1, *self.spatial_shape])

    def _neighbours(self, code, keys, seed=None, rank=0):
        """Rows [B] of the neighbours c~ and their codes [B, D].

        With a `seed`: a row drawn uniformly from the K nearest (training,
        Sec. 3); else the `rank`-th nearest (0 = the nearest). Row -1 (a zero
        code) when the index holds no other code.
        """
        rows, _ = self.code_index.search(tf.stop_gradient(code), keys)
        if seed is None:
            row = rows[:, rank]
        else:
            available = tf.reduce_sum(tf.cast(rows >= 0, tf.int32), axis=1)
            u = noise.uniform_from_seed(tf.shape(rows)[:1], noise.stream_seed(seed, 1))
            pick = tf.cast(u * tf.cast(tf.maximum(available, 1), tf.float32), tf.int32)
            row = tf.gather(rows, tf.minimum(pick, self.num_neighbours - 1), batch_dims=1)
        return row, self.code_index.gather(row)

    @_static
    def coding_cost(self, image, seed=EVAL_SEED, rank=0):
        """The coding cost of images given their `rank`-th nearest stored code (0 = nearest).

        Args:
          image: int [B, H, W, 1].
          seed: int, the posterior draw z ~ q(z|x).
          rank: int in [0, K), which of the K nearest stored codes is c~.

        Returns:
          A dict of [B] tensors: `nats` (= `kl` + `reconstruction`, an upper
          bound on the cost of coding x given c~), `kl`, `reconstruction`,
          `neighbour` (the index row of c~, -1 for none) and the `code` c [B, D].
        """
        if not 0 <= rank < self.num_neighbours:
            raise ValueError(f"rank: expected an int in [0, {self.num_neighbours}), got {rank}.")
        image = self._image(image)
        code = self.encode(image)
        row, neighbour_code = self._neighbours(code, image_fingerprint(image), rank=rank)
        kl, reconstruction = self._costs(image, code, neighbour_code, tf.cast(seed, tf.int64))
        return {
            "nats": kl + reconstruction,
            "kl": kl,
            "reconstruction": reconstruction,
            "neighbour": row,
            "code": code,
        }

    def call(self, features, training=False):
        return self.coding_cost(self._image(features))["nats"]

    def build_example(self, batch_size=1):
        # The decoder runs through its methods, never its `call`: build it as Keras does.
        self.decoder.build_example(batch_size)
        return super().build_example(batch_size)

    # --------------------------------------------------------------- training
    @_static
    def compute_losses(self, features, training=False):
        if not training:
            costs = self.coding_cost(self._image(features))
            kl, reconstruction = costs["kl"], costs["reconstruction"]
        else:
            image = self._image(features)
            keys = image_fingerprint(image)
            code = self.encode(image)
            seed = self._loss_seed(training)
            _, neighbour_code = self._neighbours(code, keys, seed=seed)
            kl, reconstruction = self._costs(image, code, neighbour_code, seed)
            # Sec. 3: KNN(x) is over the current training codes; each batch refreshes its own.
            self.code_index.update(tf.stop_gradient(code), keys)
        nats = kl + reconstruction
        return tf.reduce_mean(nats), {
            "nats_per_example": nats,
            "kl": kl,
            "reconstruction": reconstruction,
        }

    def refresh_code_index(self, images, batch_size=500):
        """Replaces the stored codes by the current encoder's codes of `images` (the training set).

        Training keeps the index current batch by batch; this recomputes every
        code at once, e.g. with the final weights before evaluation or export.

        Args:
          images: int array [N, H, W, 1], N <= `num_train_examples`.
          batch_size: images encoded at a time.
        """
        images = np.asarray(images)
        if len(images) > self.code_index.capacity:
            raise ValueError(
                f"images: expected at most num_train_examples="
                f"{self.code_index.capacity} images, got {len(images)}."
            )
        self.build_example()
        self.code_index.reset()
        store = self._function("store", self._store)
        for start in range(0, len(images), batch_size):
            store(tf.constant(images[start : start + batch_size]))

    def _store(self, image):
        self.code_index.update(self.encode(image), image_fingerprint(image))

    # --------------------------------------------------------------- density
    @_static
    def mean_costs(self, image, num_samples=1, seed=EVAL_SEED):
        """KL [B] and reconstruction [B] in nats, averaged over `num_samples` draws of z.

        Draw s uses the seed `seed + s`; c~ is the nearest stored code.
        """
        image = self._image(image)
        parts = tf.map_fn(
            lambda s: tf.stack(
                [self.coding_cost(image, s)[key] for key in ("kl", "reconstruction")]
            ),
            tf.cast(seed, tf.int64) + tf.range(tf.cast(num_samples, tf.int64)),
            fn_output_signature=tf.float32,
        )
        return tf.unstack(tf.reduce_mean(parts, axis=0))

    def log_prob(self, image, num_samples=1, seed=EVAL_SEED):
        """-(KL + reconstruction) [B] in nats, averaged over `num_samples` draws of z.

        The ELBO, a lower bound on log p(x | c~) = log E_{p(z|c~)} r(x|z) with c~
        the nearest stored code: its negative is an upper bound on the cost of
        coding x given c~.
        """
        return -tf.add_n(self.mean_costs(image, num_samples, seed))

    # -------------------------------------------------------------- sampling
    @_static
    def _chain(self, code, steps, seed):
        """Daydreaming (arXiv 1804.02476): `steps` times z ~ p(z|c), x ~ r(x|z), c = encode(x).

        Returns images int32 [N, steps, H, W, 1] and their codes [N, steps, D].
        """
        shape = tf.concat([tf.shape(code)[:1], self.image_shape], axis=0)
        temperature = tf.constant(1.0)

        def step(t, code, images, codes):
            streams = _STREAMS_PER_STEP * t
            prior = self.prior(code)
            batch = tf.shape(code)[:1]
            z = prior.sample_from_noise(
                noise.uniform_from_seed(batch, noise.stream_seed(seed, streams)),
                noise.normal_from_seed(tf.shape(code), noise.stream_seed(seed, streams + 1)),
            )
            pixels = noise.uniform_from_seed(shape, noise.stream_seed(seed, streams + 2))
            image = self.decoder.sample_given(z, self._spatial(z), pixels, temperature)
            code = self.encode(image)
            return t + 1, code, images.write(t, image), codes.write(t, code)

        arrays = (tf.TensorArray(tf.int32, size=steps), tf.TensorArray(tf.float32, size=steps))
        _, _, images, codes = tf.while_loop(
            lambda t, *_: t < steps, step, (tf.constant(0), code, *arrays)
        )
        return (
            tf.transpose(images.stack(), [1, 0, 2, 3, 4]),
            tf.transpose(codes.stack(), [1, 0, 2]),
        )

    def _stored_codes(self, num_samples, seed):
        """`num_samples` rows drawn uniformly from the filled index (-1 when empty), codes."""
        u = noise.uniform_from_seed(
            tf.reshape(num_samples, [1]), noise.stream_seed(seed, _START_STREAM)
        )
        size = tf.convert_to_tensor(self.code_index.size)
        rows = tf.minimum(tf.cast(u * tf.cast(size, tf.float32), tf.int32), size - 1)
        return rows, self.code_index.gather(rows)

    def daydream(self, image, steps=8, seed=0, jit_compile=False):
        """Daydream chains from images: encode, then `steps` times sample a neighbour and decode.

        Args:
          image: int [N, H, W, 1], the starting images.
          steps: int >= 1, chain length.
          seed: int; the same seed gives the same chains with or without XLA.
          jit_compile: run the chain under XLA (the decoder's cached sampling
            loop is several times faster compiled on CPU: see the PixelCNN
            sampling bench in docs/RESULTS.md).

        Returns:
          `(images, codes)`: int32 [N, steps, H, W, 1] and float32 [N, steps, D].
        """
        steps = check_int(steps, "steps", 1)
        code = self.encode(self._image(image))
        return self._function("chain", self._chain, bool(jit_compile))(
            code, tf.constant(steps), tf.constant(seed, tf.int64)
        )

    def sample(self, num_samples, steps=1, seed=0, jit_compile=False):
        """Samples: daydream chains of `steps` steps from stored training codes drawn by `seed`.

        With `steps=1`, z ~ p(z|c~) and x ~ r(x|z) for a random stored code c~.

        Args:
          num_samples: int N, the number of chains.
          steps: int >= 1, chain length.
          seed: int; chooses the stored codes and the chains' noise.
          jit_compile: run the chain under XLA.

        Returns:
          `(images, codes)`: int32 [N, steps, H, W, 1] and float32 [N, steps, D].
        """
        num_samples = check_int(num_samples, "num_samples", 1)
        steps = check_int(steps, "steps", 1)
        self.build_example()
        seed = tf.constant(seed, tf.int64)
        _, code = self._stored_codes(tf.constant(num_samples), seed)
        return self._function("chain", self._chain, bool(jit_compile))(
            code, tf.constant(steps), seed
        )

    # ---------------------------------------------------------------- export
    def signatures(self, jit_compile=False):
        """`serving_default`, `log_prob`, `sample` and `daydream` as `tf.function`s.

        - `serving_default(image)`: the `code` c, the `neighbour` (index row
          of the nearest stored code that is not the image itself, -1 if
          none), `kl`, `reconstruction` and `nats_upper_bound` (their sum),
          one z-draw with a fixed seed.
        - `log_prob(image, num_samples, seed)`: `nats_upper_bound` (the coding
          cost KL + reconstruction, averaged over `num_samples` z-draws: an
          upper bound), `elbo` (its negative), `kl`, `reconstruction`.
        - `sample(num_samples, steps, seed)`: daydream chains from stored
          training codes (rows `start`): `image` int32 [N, steps, H, W, 1] and
          `code` [N, steps, D].
        - `daydream(image, steps, seed)`: daydream chains from images:
          `image` and `code` as for `sample`.

        Args:
          jit_compile: compile the daydream loop with XLA.
        """
        self.build_example()
        image_spec = tf.TensorSpec([None, *self.image_shape], tf.int32, name="image")
        num_samples_spec = tf.TensorSpec([], tf.int32, name="num_samples")
        steps_spec = tf.TensorSpec([], tf.int32, name="steps")
        seed_spec = tf.TensorSpec([], tf.int64, name="seed")
        chain = self._function("chain", self._chain, True) if jit_compile else self._chain

        def serving_default(image):
            costs = self.coding_cost(image)
            return {
                "code": costs["code"],
                "neighbour": costs["neighbour"],
                "kl": costs["kl"],
                "reconstruction": costs["reconstruction"],
                "nats_upper_bound": costs["nats"],
            }

        def log_prob(image, num_samples, seed):
            kl, reconstruction = self.mean_costs(image, num_samples, seed)
            bound = kl + reconstruction
            return {
                "nats_upper_bound": bound,
                "elbo": -bound,
                "kl": kl,
                "reconstruction": reconstruction,
            }

        def sample(num_samples, steps, seed):
            start, code = self._stored_codes(num_samples, seed)
            images, codes = chain(code, steps, seed)
            return {"image": images, "code": codes, "start": start}

        def daydream(image, steps, seed):
            images, codes = chain(self.encode(image), steps, seed)
            return {"image": images, "code": codes}

        levels = {"image": (0, self.num_levels - 1)}
        return {
            "serving_default": signature_function(serving_default, [image_spec], levels),
            "log_prob": signature_function(
                log_prob, [image_spec, num_samples_spec, seed_spec], levels
            ),
            "sample": signature_function(sample, [num_samples_spec, steps_spec, seed_spec]),
            "daydream": signature_function(daydream, [image_spec, steps_spec, seed_spec], levels),
        }
