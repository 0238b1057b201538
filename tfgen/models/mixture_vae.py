"""A VAE whose approximate posterior is a mixture of diagonal Gaussians.

The posterior samples are differentiated w.r.t. the mixture weights, means and
scales with Graves' implicit gradients for mixture densities (arXiv 1607.05690,
`tfgen.distributions.mixture`); `num_components=1` is the usual single-Gaussian
VAE (Kingma & Welling 2014), where those gradients reduce to `dz/dmu = 1`,
`dz/dsigma = eps`.

The ELBO `E_q[log p(x|z) + log p(z) - log q(z|x)]` uses a standard normal
prior, a Bernoulli decoder on binarised images, and a Monte Carlo estimate of
the KL term from the same sample (the mixture's KL to the prior has no closed
form). Reported in nats per image.
"""

import math

import tensorflow as tf

from tfgen import noise, registry
from tfgen.checks import check_int
from tfgen.distributions.mixture import MixtureOfDiagonalGaussians
from tfgen.models.image_model import EVAL_SEED, ImageModel, single_channel_shape
from tfgen.signatures import signature_function


def _key(seed, stream):
    """A [2] int64 stateless key for one use (`stream`) of an int64 `seed`."""
    return tf.stack([tf.cast(seed, tf.int64), tf.constant(stream, tf.int64)])


def _bernoulli_log_prob(logits, image):
    """log p(x | z) [...] of binary pixels flattened on the last axis."""
    return tf.reduce_sum(image * logits - tf.nn.softplus(logits), axis=-1)


def _standard_normal_log_prob(z):
    """log N(z; 0, I) [...] for z [..., D]."""
    return -0.5 * tf.reduce_sum(tf.square(z) + math.log(2.0 * math.pi), axis=-1)


@registry.register(
    "mixture_vae",
    dataset="mnist",
    dataset_options={"view": "binary"},
    data_hparams=lambda info: {"image_shape": tuple(info.image_shape)},
    signatures=("serving_default", "log_prob", "sample"),
)
class MixtureVAE(ImageModel):
    """VAE on binary images with a mixture-of-diagonal-Gaussians posterior q(z|x).

    Encoder and decoder are MLPs with two ReLU layers of `hidden_units`. The
    encoder outputs the posterior's mixture logits [K], means [K, D] and
    scales [K, D] (softplus); the decoder outputs Bernoulli logits per pixel.

    Args:
      image_shape: (height, width, 1) of the binary images.
      num_components: int K >= 1, mixture components of q(z|x) (1 = the
        single-Gaussian baseline).
      latent_dim: int D, the size of z.
      hidden_units: int, width of the hidden layers.

    Features are dicts with `image` int32 [B, H, W, 1] in {0, 1} (other keys,
    e.g. `label`, are ignored). Calling the model returns the per-example
    ELBO [B] in nats (one z-draw; a fixed seed unless `training`).
    """

    metric_names = ("nats_per_example", "elbo", "kl")

    def __init__(
        self, image_shape=(28, 28, 1), num_components=3, latent_dim=16, hidden_units=256, **kwargs
    ):
        super().__init__(**kwargs)
        self.image_shape = single_channel_shape(image_shape)
        self.num_components = check_int(num_components, "num_components", 1)
        self.latent_dim = check_int(latent_dim, "latent_dim", 1)
        self.hidden_units = check_int(hidden_units, "hidden_units", 1)
        k, d = self.num_components, self.latent_dim
        self.encoder = tf.keras.Sequential(
            [
                tf.keras.layers.Dense(self.hidden_units, "relu", name=f"encoder_{i}")
                for i in range(2)
            ],
            name="encoder",
        )
        self.posterior_logits = tf.keras.layers.Dense(k, name="posterior_logits")
        self.posterior_loc = tf.keras.layers.Dense(k * d, name="posterior_loc")
        self.posterior_scale = tf.keras.layers.Dense(k * d, name="posterior_scale")
        self.decoder = tf.keras.Sequential(
            [
                tf.keras.layers.Dense(self.hidden_units, "relu", name=f"decoder_{i}")
                for i in range(2)
            ]
            + [tf.keras.layers.Dense(self.num_dims, name="pixel_logits")],
            name="decoder",
        )

    # ---------------------------------------------------------------- network
    def posterior(self, x):
        """q(z | x): a `MixtureOfDiagonalGaussians` with batch [B], from x float [B, H*W]."""
        h = self.encoder(2.0 * x - 1.0)
        shape = [-1, self.num_components, self.latent_dim]
        return MixtureOfDiagonalGaussians(
            self.posterior_logits(h),
            tf.reshape(self.posterior_loc(h), shape),
            tf.reshape(tf.nn.softplus(self.posterior_scale(h)) + 1e-4, shape),
        )

    def decode(self, z):
        """Bernoulli logits [..., H*W] of p(x | z) for z [..., D]."""
        flat = tf.reshape(z, [-1, self.latent_dim])
        logits = self.decoder(flat)
        return tf.reshape(logits, tf.concat([tf.shape(z)[:-1], [self.num_dims]], axis=0))

    def _log_weights(self, x, seed, num_samples=()):
        """log p(x|z) + log p(z) - log q(z|x) for z ~ q(z|x) [*num_samples, B], and parts."""
        q = self.posterior(x)
        z = q.sample(_key(seed, 3), sample_shape=num_samples)  # Graves' implicit gradients
        log_likelihood = _bernoulli_log_prob(self.decode(z), x)
        kl = q.log_prob(z) - _standard_normal_log_prob(z)  # single-sample KL estimate
        return log_likelihood - kl, kl

    def call(self, features, training=False):
        return self._log_weights(self._flat_image(features), self._loss_seed(training))[0]

    # --------------------------------------------------------------- density
    def compute_losses(self, features, training=False):
        elbo, kl = self._log_weights(self._flat_image(features), self._loss_seed(training))
        return -tf.reduce_mean(elbo), {"nats_per_example": -elbo, "elbo": elbo, "kl": kl}

    def elbo(self, image, seed=EVAL_SEED):
        """Single-sample ELBO estimate [B] in nats of images int [B, H, W, 1]."""
        return self._log_weights(self._flat_image(image), tf.cast(seed, tf.int64))[0]

    def log_prob(self, image, num_samples=1, seed=EVAL_SEED):
        """The importance-weighted bound L_S <= log p(x) [B] in nats (Burda et al. 2016).

        `log (1/S) sum_s p(x, z_s) / q(z_s | x)` with S = `num_samples` posterior
        samples; S = 1 is the ELBO, and the bound tightens as S grows.
        """
        num_samples = tf.convert_to_tensor(num_samples, tf.int32)
        log_w = self._log_weights(
            self._flat_image(image), tf.cast(seed, tf.int64), num_samples[None]
        )[0]
        return tf.reduce_logsumexp(log_w, axis=0) - tf.math.log(tf.cast(num_samples, log_w.dtype))

    # -------------------------------------------------------------- sampling
    def _sample_images(self, num_samples, seed):
        z = noise.normal_from_seed(tf.stack([num_samples, self.latent_dim]), _key(seed, 1))
        probs = tf.sigmoid(self.decode(z))
        u = noise.uniform_from_seed(tf.shape(probs), _key(seed, 2))
        shape = tf.concat([[num_samples], self.image_shape], axis=0)
        return (tf.reshape(tf.cast(u < probs, tf.int32), shape), tf.reshape(probs, shape))

    def sample(self, num_samples, seed=0, jit_compile=True):
        """Samples binary images from z ~ N(0, I), x ~ p(x | z).

        Args:
          num_samples: int N.
          seed: int; the same seed gives the same images with or without XLA.
          jit_compile: run the decoder and the draws under XLA.

        Returns:
          `(image, probs)`: int32 [N, H, W, 1] and the Bernoulli means float32
          [N, H, W, 1].
        """
        num_samples = check_int(num_samples, "num_samples", 1)
        self.build_example()
        return self._function("sample", self._sample_images, bool(jit_compile))(
            tf.constant(num_samples, tf.int32), tf.constant(seed, tf.int64)
        )

    # ---------------------------------------------------------------- export
    def signatures(self, jit_compile=False):
        """`serving_default`, `log_prob` and `sample` as `tf.function`s.

        - `serving_default(image)`: `elbo` and `nats_per_example` (= -elbo),
          one z-draw with a fixed seed.
        - `log_prob(image, num_samples, seed)`: `log_prob`, the importance-
          weighted bound with `num_samples` posterior draws (1 = the ELBO),
          and `nats_per_example` (= -log_prob).
        - `sample(num_samples, seed)`: `image` int32 and `probs` float32.

        Args:
          jit_compile: compile the sampler with XLA.
        """
        self.build_example()
        image_spec = tf.TensorSpec([None, *self.image_shape], tf.int32, name="image")
        num_samples_spec = tf.TensorSpec([], tf.int32, name="num_samples")
        seed_spec = tf.TensorSpec([], tf.int64, name="seed")

        def serving_default(image):
            elbo = self.elbo(image)
            return {"elbo": elbo, "nats_per_example": -elbo}

        def log_prob(image, num_samples, seed):
            bound = self.log_prob(image, num_samples, seed)
            return {"log_prob": bound, "nats_per_example": -bound}

        def sample(num_samples, seed):
            loop = (
                self._function("sample", self._sample_images, True)
                if jit_compile
                else self._sample_images
            )
            image, probs = loop(num_samples, seed)
            return {"image": image, "probs": probs}

        levels = {"image": (0, self.num_levels - 1)}
        return {
            "serving_default": signature_function(serving_default, [image_spec], levels),
            "log_prob": signature_function(
                log_prob, [image_spec, num_samples_spec, seed_spec], levels
            ),
            "sample": signature_function(sample, [num_samples_spec, seed_spec]),
        }
