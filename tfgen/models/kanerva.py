"""The Kanerva Machine (Wu, Wayne, Graves & Lillicrap 2018, arXiv 1804.01756) on binary images.

A generative model of an *episode* X = (x_1, ..., x_T) of images that share a
memory M (Sec. 3.1):

    p(X, M) = p(M) prod_t p(x_t | M),   p(M) = MN(R_0, U_0, I)
    p(x_t, y_t, z_t | M) = p(x_t | z_t) p(z_t | y_t, M) p(y_t)
    p(y_t) = N(0, I),  w_t = A f(y_t),  p(z_t | y_t, M) = N(w_t^T M, sigma^2 I)

with a learned prior memory (R_0, U_0), learned addresses A (rows of unit
norm), a key network f, a Bernoulli decoder p(x|z) and the noise variance
sigma^2 (`tfgen.layers.KanervaMemory` holds the memory parts). sigma^2 is
fixed (1 by default, as in the authors' later reference code,
google-deepmind/dynamic-kanerva-machines): like the N(0, I) prior of a VAE, it
pins the scale of the codes; learned, it let the codes' scale drift
(sigma^2 grew to ~5 in 4,000 steps on MNIST) and the model overfit more.

Inference (Sec. 3.2-3.3): writing, q(M|X) = E_{q(Y|X) q(Z|X)} p(M | Y, Z), is
the exact Bayesian update of the memory with codes z_t ~ q(z_t|x_t) written at
addresses from y_t ~ q(y_t|x_t) (`tfgen.layers.memory_update`); reading,
q(y_t, z_t | x_t, M) = q(z_t | x_t, y_t, M) q(y_t | x_t), combines the
bottom-up embedding e(x_t) with the top-down read-out w_t^T R.

The training objective (Sec. 3.4) is the episode's variational lower bound

    L(X) = sum_t E[log p(x_t|z_t)] - KL(q(z_t|x_t,y_t,M) || p(z_t|y_t,M))
                                   - KL(q(y_t|x_t) || p(y_t))
           - KL(q(M|X) || p(M)),

estimated with one draw: y_t ~ q(y_t|x_t) (one draw per image, addressing both
the write and the read of x_t) and the written codes Z ~ q(Z|X). Given them
the memory posterior p(M|Y,Z) = MN(R, U, I) is exact, its KL to the prior is
closed form (`tfgen.layers.memory_kl`), and the expectation over M of the
code KL is analytic, `KL(q || N(w^T R, sigma^2 I)) + C w^T U w / (2 sigma^2)`,
because q(z_t | ...) reads the memory through its mean R. Using p(M|Y,Z) in
place of the marginal q(M|X) is the auxiliary-variable bound with the written
codes' own q(Z|X) as their reverse model: still a lower bound on log p(X).

Episodes: features are images int [N, H, W, 1] in {0, 1}, cut into N / T
episodes of `episode_length` T consecutive images (so a batch of B * T
shuffled training images is B random episodes; `class_episodes` groups
images into episodes of a few classes, whose images resemble each other), or
already episodes [B, T', H, W, 1] for any T'. Losses and metrics are in nats
per image (the episode's bound divided by its length).

Iterative reading (Sec. 3.5): a query is read with the reading inference
model at its means and the decoded image is fed back as the next query; with
a corrupted query, the stored episode pulls the reads towards what was written.

The VAE baseline of the paper's comparisons is the same encoder and decoder
without memory: `tfgen.models.MixtureVAE` with `num_components=1`,
`latent_dim=code_size` and the same `hidden_units` (a Gaussian posterior, a
standard normal prior).
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfgen import noise, registry
from tfgen.checks import check_int
from tfgen.layers import KanervaMemory
from tfgen.models.image_model import EVAL_SEED, ImageModel, image_feature, single_channel_shape
from tfgen.signatures import signature_function

tfd = tfp.distributions

_MIN_SCALE = 1e-4  # The smallest standard deviation of q(y|x) and q(z|...).
# Noise streams of one seed: one per draw.
_WRITE_Y, _WRITE_Z, _READ_Z, _SAMPLE_Y, _SAMPLE_M, _SAMPLE_Z, _SAMPLE_X = range(7)


def _mlp(units, num_layers, name, output_units=None):
    """`num_layers` ReLU Dense layers of `units`, then a linear one of `output_units`."""
    layers = [tf.keras.layers.Dense(units, "relu", name=f"{name}_{i}") for i in range(num_layers)]
    if output_units is not None:
        layers.append(tf.keras.layers.Dense(output_units, name=f"{name}_output"))
    return tf.keras.Sequential(layers, name=name)


def _gaussian(parameters):
    """(loc, scale) of a diagonal Gaussian from parameters [..., 2 D]: loc, softplus scale."""
    loc, raw_scale = tf.split(parameters, 2, axis=-1)
    return loc, tf.nn.softplus(raw_scale) + _MIN_SCALE


def _reparameterize(loc, scale, seed, stream):
    """loc + scale * eps with eps ~ N(0, I) from stream `stream` of `seed` (XLA-stable)."""
    return loc + scale * noise.normal_from_seed(tf.shape(loc), noise.stream_seed(seed, stream))


def _expected_code_kl(q_loc, q_scale, read_mean, read_variance, noise_variance):
    """E_M KL(N(q_loc, q_scale^2) || N(w^T M, sigma^2 I)) [..] for w^T M ~ N(mean, variance I).

    arXiv 1804.01756, Sec. 3.4: the code KL of the bound with the memory
    integrated out over its posterior: KL(q || N(w^T R, sigma^2 I)) plus
    C w^T U w / (2 sigma^2).
    """
    kl = tfd.kl_divergence(
        tfd.Normal(q_loc, q_scale), tfd.Normal(read_mean, tf.sqrt(noise_variance))
    )
    return (
        tf.reduce_sum(kl, axis=-1)
        + 0.5 * read_variance * tf.cast(tf.shape(q_loc)[-1], q_loc.dtype) / noise_variance
    )


def class_episodes(images, labels, num_episodes, episode_length, labels_per_episode=1, seed=0):
    """Episodes of images from a few classes each, laid out as `KanervaMachine` cuts a batch.

    Each episode draws `labels_per_episode` distinct labels, then
    `episode_length` distinct images among the images of those labels.

    Args:
      images: array [N, H, W, 1].
      labels: int array [N].
      num_episodes: int, the episodes to draw.
      episode_length: int T, images per episode.
      labels_per_episode: int, distinct classes per episode.
      seed: int seed of the draws.

    Returns:
      Array [num_episodes * T, H, W, 1]: episode after episode.

    Raises:
      ValueError: if there are fewer labels than `labels_per_episode`, or fewer
        images of some labels than `episode_length`.

    Example:

    >>> images, labels = np.arange(40).reshape(40, 1, 1, 1), np.arange(40) % 4
    >>> episodes = class_episodes(images, labels, num_episodes=3, episode_length=5)
    >>> episodes.shape, [len(set(e.ravel() % 4)) for e in episodes.reshape(3, 5, -1)]
    ((15, 1, 1, 1), [1, 1, 1])
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if labels_per_episode > len(classes):
        raise ValueError(
            f"labels_per_episode: expected at most {len(classes)} (the distinct "
            f"labels), got {labels_per_episode}."
        )
    smallest = min(np.sum(labels == c) for c in classes)
    if smallest * labels_per_episode < episode_length:
        raise ValueError(
            f"episode_length: expected at most {smallest * labels_per_episode} "
            f"(images of the smallest classes), got {episode_length}."
        )
    rng = np.random.default_rng(seed)
    chosen = []
    for _ in range(num_episodes):
        members = np.flatnonzero(np.isin(labels, rng.choice(classes, labels_per_episode, False)))
        chosen.append(rng.choice(members, episode_length, replace=False))
    return np.asarray(images)[np.concatenate(chosen)]


@registry.register(
    "kanerva_machine",
    dataset="mnist",
    dataset_options={"view": "binary"},
    data_hparams=lambda info: {"image_shape": tuple(info.image_shape)},
    signatures=("serving_default", "log_prob", "write", "read", "sample"),
)
class KanervaMachine(ImageModel):
    """The Kanerva Machine: a VAE whose prior over codes is a distributed, Bayesian memory.

    Networks (ReLU layers of `hidden_units`): the encoder e(x) (two layers, on
    2x - 1), the Gaussian heads of q(y|x) and of the writing posterior q(z|x)
    (linear on e(x)), the key network f(y) -> b (one hidden layer), the reading
    posterior q(z | x, y, M) (linear on the concatenation [e(x), w^T R]) and
    the Bernoulli decoder p(x|z) (two hidden layers). The encoder and decoder
    are those of `MixtureVAE`, the baseline without memory.

    Args:
      image_shape: (height, width, 1) of the binary images.
      episode_length: int T >= 1, images per episode when a flat batch of
        images [T * B, H, W, 1] is cut into B episodes.
      memory_size: int K, the rows of the memory.
      code_size: int C, the size of the code z (the columns of the memory).
      key_size: int S, the size of a key b = f(y) (the columns of A).
      address_size: int, the size of the addressing variable y.
      hidden_units: int, the width of the hidden layers.
      noise_variance: float sigma^2 > 0 of p(z | y, M) (fixed), or None to
        learn it.

    Features are dicts with `image` int [N, H, W, 1] (N a multiple of T) or
    [B, T', H, W, 1] (episodes); other keys are ignored. Calling the model
    returns the episode's bound L(X) [B] in nats (one draw; a fixed seed unless
    `training`).
    """

    metric_names = ("nats_per_image", "kl_memory", "kl_z", "kl_y")

    def __init__(
        self,
        image_shape=(28, 28, 1),
        episode_length=20,
        memory_size=32,
        code_size=16,
        key_size=16,
        address_size=8,
        hidden_units=256,
        noise_variance=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = single_channel_shape(image_shape)
        self.episode_length = check_int(episode_length, "episode_length", 1)
        self.memory_size = check_int(memory_size, "memory_size", 1)
        self.code_size = check_int(code_size, "code_size", 1)
        self.key_size = check_int(key_size, "key_size", 1)
        self.address_size = check_int(address_size, "address_size", 1)
        self.hidden_units = check_int(hidden_units, "hidden_units", 1)
        units = self.hidden_units
        self.encoder = _mlp(units, 2, "encoder")
        self.address_posterior = tf.keras.layers.Dense(
            2 * self.address_size, name="address_posterior"
        )
        self.code_posterior = tf.keras.layers.Dense(2 * self.code_size, name="code_posterior")
        self.key_network = _mlp(units, 1, "key_network", self.key_size)
        self.read_posterior = tf.keras.layers.Dense(2 * self.code_size, name="read_posterior")
        self.decoder = _mlp(units, 2, "decoder", self.num_dims)
        self.memory = KanervaMemory(
            self.memory_size, self.code_size, self.key_size, noise_variance, name="memory"
        )

    # ----------------------------------------------------------------- inputs
    def _flat(self, images, name):
        """Images [B, T, H, W, 1] -> float [B, T, H*W] (checked)."""
        images = tf.convert_to_tensor(images)
        if images.shape.rank != 5 or tuple(images.shape[2:]) != self.image_shape:
            raise ValueError(
                f"{name}: expected shape [batch, episode_length, "
                f"{', '.join(map(str, self.image_shape))}], got {images.shape}."
            )
        shape = tf.shape(images)
        return tf.reshape(tf.cast(images, tf.float32), [shape[0], shape[1], self.num_dims])

    def episodes(self, features):
        """Float episodes [B, T, H*W] from features (a dict with `image`, or the images).

        Rank-4 images [N, H, W, 1] are cut into N / `episode_length` episodes of
        consecutive images; rank-5 images are episodes already.
        """
        image = image_feature(features)
        if image.shape.rank == 4:
            if tuple(image.shape[1:]) != self.image_shape:
                dims = ", ".join(map(str, self.image_shape))
                raise ValueError(
                    f"image: expected images [N, {dims}] or episodes "
                    f"[B, T, {dims}], got {image.shape}."
                )
            count = image.shape[0]
            if count is not None and count % self.episode_length:
                raise ValueError(
                    f"image: expected a batch of whole episodes (a multiple of "
                    f"episode_length={self.episode_length}), got {count} images."
                )
            image = tf.reshape(image, [-1, self.episode_length, *self.image_shape])
        return self._flat(image, "image")

    # ---------------------------------------------------------------- network
    def _embed(self, x):
        """e(x) [..., hidden_units] of float images [..., H*W]."""
        return self.encoder(2.0 * x - 1.0)

    def _address(self, y):
        """Addressing weights w [..., K] of y [..., address_size]: w = A f(y) (Sec. 3.1)."""
        return self.memory.address(self.key_network(y))

    def _write(self, x, seed=None):
        """Writes an episode into the prior memory: the posterior `(R, U)` (Sec. 3.3).

        Args:
          x: float [B, T, H*W] images.
          seed: None to write the means of q(y|x) and q(z|x) (a deterministic
            store), or an int64 seed to write one sample of them (training).

        Returns:
          `(R, U, w, e, q_y)`: memory [B, K, C], [B, K, K], the addressing
          weights written to [B, T, K], the embeddings e(x) [B, T, hidden_units]
          and q(y|x) as (loc, scale) [B, T, address_size].
        """
        e = self._embed(x)
        q_y = _gaussian(self.address_posterior(e))
        z_loc, z_scale = _gaussian(self.code_posterior(e))
        if seed is None:
            y, z = q_y[0], z_loc
        else:
            y = _reparameterize(*q_y, seed, _WRITE_Y)
            z = _reparameterize(z_loc, z_scale, seed, _WRITE_Z)
        w = self._address(y)
        R, U = self.memory.write(*self.memory.prior(tf.shape(x)[0]), w, z)
        return R, U, w, e, q_y

    def _bound(self, x, seed):
        """The episode bound L(X) [B] and its terms per episode (arXiv 1804.01756, Sec. 3.4)."""
        # One draw of y_t per image addresses both the write and the read of x_t.
        R, U, w, e, (y_loc, y_scale) = self._write(x, seed)
        read_mean, read_variance = self.memory.read(R, U, w)
        # Sec. 3.2: q(z | x, y, M) from the embedding and the read-out w^T R.
        q_loc, q_scale = _gaussian(self.read_posterior(tf.concat([e, read_mean], axis=-1)))
        z = _reparameterize(q_loc, q_scale, seed, _READ_Z)
        log_likelihood = -tf.reduce_sum(
            tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=self.decoder(z)), axis=-1
        )
        kl_z = _expected_code_kl(
            q_loc, q_scale, read_mean, read_variance, self.memory.noise_variance
        )
        kl_y = tf.reduce_sum(
            tfd.kl_divergence(tfd.Normal(y_loc, y_scale), tfd.Normal(0.0, 1.0)), axis=-1
        )
        kl_memory = self.memory.kl(R, U)
        kl_z, kl_y = tf.reduce_sum(kl_z, axis=1), tf.reduce_sum(kl_y, axis=1)
        elbo = tf.reduce_sum(log_likelihood, axis=1) - kl_z - kl_y - kl_memory
        return elbo, {"kl_memory": kl_memory, "kl_z": kl_z, "kl_y": kl_y}

    def call(self, features, training=False):
        return self._bound(self.episodes(features), self._loss_seed(training))[0]

    # --------------------------------------------------------------- density
    def compute_losses(self, features, training=False):
        x = self.episodes(features)
        elbo, terms = self._bound(x, self._loss_seed(training))
        length = tf.cast(tf.shape(x)[1], elbo.dtype)
        nats_per_image = -elbo / length
        metrics = {
            "nats_per_image": nats_per_image,
            **{name: value / length for name, value in terms.items()},
        }
        return tf.reduce_mean(nats_per_image), metrics

    def log_prob(self, image, seed=EVAL_SEED):
        """The episode's variational lower bound L(X) <= log p(X) [B] in nats.

        Args:
          image: int episodes [B, T, H, W, 1] (or a feature dict; see `episodes`).
          seed: int, the draw of the written codes and of the reading latents.
        """
        return self._bound(self.episodes(image), tf.cast(seed, tf.int64))[0]

    # ---------------------------------------------------------- store, recall
    def write(self, image):
        """Stores episodes: the memory posterior `(R, U)` [B, K, C], [B, K, K] (means written)."""
        return self._write(self.episodes(image))[:2]

    def read(self, memory_mean, memory_covariance, query, iterations=1):
        """Iterative reading (Sec. 3.2, 3.5): reconstructs `query` from itself and the memory.

        Each iteration is the reading inference model at its means: y = E q(y|x),
        w = A f(y), the read-out w^T R, z = E q(z | x, y, M) from e(x) and
        w^T R, and the decoded Bernoulli means, which are the next query. With a
        corrupted query, the memory of the stored episode pulls the reads back
        towards what was written.

        Args:
          memory_mean: float [B, K, C], R (from `write`).
          memory_covariance: float [B, K, K], U (from `write`).
          query: float [B, T', H, W, 1] in [0, 1] (binary or grey images).
          iterations: int >= 1, the number of reads.

        Returns:
          `(probs, variance)`: the last read's Bernoulli means [B, T', H, W, 1]
          and the memory's variance at its addresses, w^T U w [B, T'].
        """
        if isinstance(iterations, int) and iterations < 1:
            raise ValueError(f"iterations: expected an int >= 1, got {iterations}.")
        x = self._flat(query, "query")

        def body(i, x, variance):
            e = self._embed(x)
            w = self._address(_gaussian(self.address_posterior(e))[0])
            read_mean, variance = self.memory.read(memory_mean, memory_covariance, w)
            z = _gaussian(self.read_posterior(tf.concat([e, read_mean], axis=-1)))[0]
            return i + 1, tf.sigmoid(self.decoder(z)), variance

        _, x, variance = tf.while_loop(
            lambda i, *_: i < iterations, body, (tf.constant(0), x, tf.zeros(tf.shape(x)[:2]))
        )
        return tf.reshape(x, tf.shape(query)), variance

    def sample(self, num_samples, memory=None, seed=0):
        """Images generated from a memory: y ~ p(y), M ~ MN(R, U, I), z ~ p(z|y, M), x ~ p(x|z).

        Args:
          num_samples: int N, samples per memory.
          memory: `(R, U)` [B, K, C], [B, K, K], e.g. from `write` (samples like
            the stored episode); None for the prior memory (B = 1).
          seed: int; the same seed gives the same images with or without XLA.

        Returns:
          `(image, probs)`: int32 [B, N, H, W, 1] and float32 Bernoulli means.
        """
        if isinstance(num_samples, int):
            check_int(num_samples, "num_samples", 1)
        if memory is None:
            memory = self.memory.prior(1)
        R, U = memory
        seed = tf.cast(seed, tf.int64)
        batch = tf.shape(R)[0]
        y = noise.normal_from_seed(
            tf.stack([batch, num_samples, self.address_size]), noise.stream_seed(seed, _SAMPLE_Y)
        )
        memory_noise = noise.normal_from_seed(tf.shape(R), noise.stream_seed(seed, _SAMPLE_M))
        M = R + tf.matmul(tf.linalg.cholesky(U), memory_noise)  # a draw of MN(R, U, I)
        read = tf.matmul(self._address(y), M)
        z = read + tf.sqrt(self.memory.noise_variance) * noise.normal_from_seed(
            tf.shape(read), noise.stream_seed(seed, _SAMPLE_Z)
        )
        probs = tf.sigmoid(self.decoder(z))
        u = noise.uniform_from_seed(tf.shape(probs), noise.stream_seed(seed, _SAMPLE_X))
        shape = tf.concat([[batch, num_samples], self.image_shape], axis=0)
        return tf.reshape(tf.cast(u < probs, tf.int32), shape), tf.reshape(probs, shape)

    # ---------------------------------------------------------------- export
    def example_features(self, batch_size=2, seed=0):
        """Episodes `image` [batch, T, H, W, 1] and the `read` inputs (a query, a memory)."""
        keys = tf.random.split(tf.constant([seed, 0], tf.int64), 4)
        shape = [batch_size, self.episode_length, *self.image_shape]
        k = self.memory_size
        factor = tf.random.stateless_normal([batch_size, k, k], keys[3])
        return {
            "image": tf.random.stateless_uniform(shape, keys[0], 0, 2, tf.int32),
            "query": tf.cast(
                tf.random.stateless_uniform(shape, keys[1], 0, 2, tf.int32), tf.float32
            ),
            "memory_mean": tf.random.stateless_normal([batch_size, k, self.code_size], keys[2]),
            "memory_covariance": 0.5 * tf.eye(k) + tf.matmul(factor, factor, transpose_b=True) / k,
        }

    def signatures(self, jit_compile=False):
        """`serving_default`, `log_prob`, `write`, `read` and `sample` as `tf.function`s.

        All are stateless: a memory is returned to the caller by `write` and
        passed back to `read` and `sample`, never kept in variables.

        - `serving_default(image)`: `elbo` [B] of episodes int32
          [B, T, H, W, 1] (one draw, fixed seed) and `nats_per_image` (-elbo / T).
        - `log_prob(image, seed)`: `log_prob` (the bound L(X)) and `nats_per_image`.
        - `write(image)`: `memory_mean` [B, K, C] and `memory_covariance`
          [B, K, K], the memory after storing each episode.
        - `read(memory_mean, memory_covariance, query, iterations)`: `probs`
          [B, T', H, W, 1], the recalled images after `iterations` reads of
          float queries [B, T', H, W, 1], and `variance` [B, T'].
        - `sample(memory_mean, memory_covariance, num_samples, seed)`: `image`
          int32 and `probs` [B, num_samples, H, W, 1] generated from the memory.

        Args:
          jit_compile: accepted for the export contract and ignored: every
            signature is a few dense layers and K x K or T x T Cholesky solves
            (per iteration of `read`), exported as a plain graph.
        """
        del jit_compile
        self.build_example()
        episode = [None, None, *self.image_shape]
        image_spec = tf.TensorSpec(episode, tf.int32, name="image")
        mean_spec = tf.TensorSpec(
            [None, self.memory_size, self.code_size], tf.float32, name="memory_mean"
        )
        covariance_spec = tf.TensorSpec(
            [None, self.memory_size, self.memory_size], tf.float32, name="memory_covariance"
        )
        seed_spec = tf.TensorSpec([], tf.int64, name="seed")

        def per_image(bound, image):
            return -bound / tf.cast(tf.shape(image)[1], bound.dtype)

        def serving_default(image):
            elbo = self.log_prob(image)
            return {"elbo": elbo, "nats_per_image": per_image(elbo, image)}

        def log_prob(image, seed):
            bound = self.log_prob(image, seed)
            return {"log_prob": bound, "nats_per_image": per_image(bound, image)}

        def write(image):
            R, U = self.write(image)
            return {"memory_mean": R, "memory_covariance": U}

        def read(memory_mean, memory_covariance, query, iterations):
            probs, variance = self.read(memory_mean, memory_covariance, query, iterations)
            return {"probs": probs, "variance": variance}

        def sample(memory_mean, memory_covariance, num_samples, seed):
            image, probs = self.sample(num_samples, (memory_mean, memory_covariance), seed)
            return {"image": image, "probs": probs}

        memory_specs = [mean_spec, covariance_spec]
        levels = {"image": (0, self.num_levels - 1)}
        return {
            "serving_default": signature_function(serving_default, [image_spec], levels),
            "log_prob": signature_function(log_prob, [image_spec, seed_spec], levels),
            "write": signature_function(write, [image_spec], levels),
            "read": signature_function(
                read,
                [
                    *memory_specs,
                    tf.TensorSpec(episode, tf.float32, name="query"),
                    tf.TensorSpec([], tf.int32, name="iterations"),
                ],
            ),
            "sample": signature_function(
                sample, [*memory_specs, tf.TensorSpec([], tf.int32, name="num_samples"), seed_spec]
            ),
        }
