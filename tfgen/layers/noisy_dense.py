"""Noisy linear layer of NoisyNet (Fortunato et al. 2017, arXiv 1706.10295, Sec. 3).

The weights of a noisy layer are `w = mu_w + sigma_w * eps_w` and
`b = mu_b + sigma_b * eps_b` (Eq. 9), where `mu` and `sigma` are learned and
`eps` is zero-mean noise drawn afresh on every call. Two noise structures
(Sec. 3(a), 3(b)):

* factorised Gaussian noise: `eps_w = f(eps_in) f(eps_out)^T`,
  `eps_b = f(eps_out)`, `f(x) = sgn(x) sqrt(|x|)`, with `p` + `q` unit
  Gaussians per call (used for NoisyNet-DQN and NoisyNet-Dueling);
* independent Gaussian noise: one unit Gaussian per weight and bias,
  `p q + q` per call (used for NoisyNet-A3C).

Initialisation (Sec. 3.2), with `p` the fan-in: factorised
`mu ~ U[-1/sqrt(p), 1/sqrt(p)]`, `sigma = sigma_0 / sqrt(p)` (sigma_0 = 0.5);
independent `mu ~ U[-sqrt(3/p), sqrt(3/p)]`, `sigma = 0.017`.
"""

import math

import numpy as np
import tensorflow as tf

NOISE_TYPES = ("factorised", "independent")
_DEFAULT_SIGMA_0 = {"factorised": 0.5, "independent": 0.017}


def _check_noise(noise):
    if noise not in NOISE_TYPES:
        raise ValueError(f"noise: expected one of {NOISE_TYPES}, got {noise!r}.")
    return noise


def _check_units(units):
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
        raise ValueError(f"units: expected a positive int, got {units!r}.")
    return int(units)


def _check_sigma_0(sigma_0, noise):
    if sigma_0 is None:
        return _DEFAULT_SIGMA_0[noise]
    if isinstance(sigma_0, bool) or not isinstance(sigma_0, (int, float)) or sigma_0 < 0:
        raise ValueError(f"sigma_0: expected a float >= 0, got {sigma_0!r}.")
    return float(sigma_0)


def scale_noise(x):
    """`f(x) = sgn(x) sqrt(|x|)`, the factorised-noise transform (1706.10295 Sec. 3(b)).

    Example:

    >>> scale_noise(tf.constant([-4.0, 0.0, 9.0])).numpy()
    array([-2.,  0.,  3.], dtype=float32)
    """
    return tf.sign(x) * tf.sqrt(tf.abs(x))


def split_noise_seed(noise_seed, num):
    """Splits a stateless `noise_seed` ([2] int) into `num` seeds, or `[None] * num`.

    Example:

    >>> [seed.shape for seed in split_noise_seed(tf.constant([1, 2]), 3)]
    [TensorShape([2]), TensorShape([2]), TensorShape([2])]
    >>> split_noise_seed(None, 2)
    [None, None]
    """
    if noise_seed is None:
        return [None] * num
    return tf.unstack(tf.random.experimental.stateless_split(noise_seed, num))


def _unit_normal(shape, dtype, seed):
    """N(0, 1) draws: a fresh stateful draw if `seed` is None, else stateless from `seed`."""
    if seed is None:
        return tf.random.normal(shape, dtype=dtype)
    return tf.random.stateless_normal(shape, seed=seed, dtype=dtype)


@tf.keras.saving.register_keras_serializable(package="tfgen")
class NoisyDense(tf.keras.layers.Layer):
    """Densely-connected layer with learned parametric weight noise (NoisyNet).

    `outputs = activation(inputs @ (mu_w + sigma_w * eps_w) + mu_b + sigma_b * eps_b)`
    with new noise `eps` on every call; one noise sample is shared by the whole
    batch of a call (as one network sample acts on a batch in the paper).

    Noise and `training`: tf-agents calls networks with `training=False` while
    collecting experience, but NoisyNet explores *through* the noise, so the
    noise does not follow `training`. It is on unless it is switched off with
    the `noisy` constructor argument / attribute (e.g. `layer.noisy = False`
    before tracing an evaluation function) or the `noisy` call argument; the
    noise-free layer is the mean network `inputs @ mu_w + mu_b`.

    Reproducible noise: by default every call draws fresh noise from the
    stateful global generator (seeded by `tf.keras.utils.set_random_seed`).
    Passing `noise_seed` (a [2] integer tensor) draws the noise with
    `tf.random.stateless_normal` instead, so the same seed gives the same
    network sample: NoisyNet-A3C holds the noise fixed for a rollout and
    re-uses it when computing the rollout's gradients. (Stateless normals
    differ between XLA and non-XLA kernels; use one or the other for both.)

    Reference:
      Fortunato et al. 2017, "Noisy Networks for Exploration", arXiv
      1706.10295, Sec. 3, Eq. 9 (the noisy linear layer), Sec. 3(a)/(b)
      (independent / factorised Gaussian noise), Sec. 3.2 (initialisation).

    Args:
      units: positive int, the output dimension `q`.
      activation: activation function or its name; None for linear.
      noise: "factorised" (default) or "independent".
      sigma_0: the noise-scale initialisation constant; None for the paper's
        value (0.5 for factorised noise, where `sigma = sigma_0 / sqrt(p)`;
        0.017 for independent noise, where `sigma = sigma_0`).
      noisy: bool, whether calls add noise by default (True).
      mu_initializer: initializer of `mu_w`; None for the paper's uniform one.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [..., p].
      training: accepted for Keras/tf-agents compatibility; ignored.
      noisy: bool or None; None uses the layer's `noisy` attribute.
      noise_seed: None, or an int32/int64 tensor [2] for stateless noise.

    Returns:
      Float tensor [..., units].

    Example:

    >>> layer = NoisyDense(units=3)
    >>> x = tf.ones([2, 4])
    >>> layer(x).shape
    TensorShape([2, 3])
    >>> seed = tf.constant([1, 2])  # the same seed: the same network sample
    >>> bool(tf.reduce_all(layer(x, noise_seed=seed) == layer(x, noise_seed=seed)))
    True
    >>> mean = layer(x, noisy=False)  # the mean network x mu_w + mu_b
    >>> bool(tf.reduce_all(tf.abs(mean - (x @ layer.mu_w + layer.mu_b)) < 1e-6))
    True
    """

    def __init__(
        self,
        units,
        activation=None,
        noise="factorised",
        sigma_0=None,
        noisy=True,
        mu_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = _check_units(units)
        self.activation = tf.keras.activations.get(activation)
        self.noise = _check_noise(noise)
        self.sigma_0 = _check_sigma_0(sigma_0, noise)
        self.noisy = bool(noisy)
        self.mu_initializer = tf.keras.initializers.get(mu_initializer)
        self.input_spec = tf.keras.layers.InputSpec(min_ndim=2)

    # NoisyNet Sec. 3.2: initialisation of mu and sigma from the fan-in p.
    def _init_scales(self, fan_in):
        """(bound of the uniform mu initialisation, constant sigma initialisation)."""
        if self.noise == "factorised":
            return 1.0 / math.sqrt(fan_in), self.sigma_0 / math.sqrt(fan_in)
        return math.sqrt(3.0 / fan_in), self.sigma_0

    def build(self, input_shape):
        fan_in = tf.TensorShape(input_shape)[-1]
        if fan_in is None:
            raise ValueError(
                f"NoisyDense: expected a known last input dimension, got input shape {input_shape}."
            )
        mu_bound, sigma = self._init_scales(fan_in)

        def mu_init():  # a new instance per weight: Keras repeats an unseeded instance
            return tf.keras.initializers.RandomUniform(-mu_bound, mu_bound)

        kernel_shape = [fan_in, self.units]
        self.mu_w = self.add_weight(
            "mu_w", kernel_shape, initializer=self.mu_initializer or mu_init()
        )
        self.sigma_w = self.add_weight(
            "sigma_w", kernel_shape, initializer=tf.keras.initializers.Constant(sigma)
        )
        self.mu_b = self.add_weight("mu_b", [self.units], initializer=mu_init())
        self.sigma_b = self.add_weight(
            "sigma_b", [self.units], initializer=tf.keras.initializers.Constant(sigma)
        )
        self.input_spec = tf.keras.layers.InputSpec(min_ndim=2, axes={-1: fan_in})
        super().build(input_shape)

    def _matmul(self, inputs, kernel):
        return tf.einsum("...i,ij->...j", inputs, kernel)

    # NoisyNet Sec. 3(b): factorised noise, computed without forming eps_w:
    # x (sigma_w * f(eps_in) f(eps_out)^T) = ((x * f(eps_in)) sigma_w) * f(eps_out).
    def _factorised_noise_term(self, inputs, seed):
        seed_in, seed_out = split_noise_seed(seed, 2)
        f_in = scale_noise(_unit_normal([self.mu_w.shape[0]], inputs.dtype, seed_in))
        f_out = scale_noise(_unit_normal([self.units], inputs.dtype, seed_out))
        return (self._matmul(inputs * f_in, self.sigma_w) + self.sigma_b) * f_out

    # NoisyNet Sec. 3(a): independent Gaussian noise on every weight and bias.
    def _independent_noise_term(self, inputs, seed):
        seed_w, seed_b = split_noise_seed(seed, 2)
        eps_w = _unit_normal(self.mu_w.shape, inputs.dtype, seed_w)
        eps_b = _unit_normal([self.units], inputs.dtype, seed_b)
        return self._matmul(inputs, self.sigma_w * eps_w) + self.sigma_b * eps_b

    # NoisyNet Eq. 9: y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b.
    def call(self, inputs, training=None, noisy=None, noise_seed=None):
        del training  # The noise is the exploration; it does not follow `training`.
        inputs = tf.convert_to_tensor(inputs, dtype=self.compute_dtype)
        outputs = self._matmul(inputs, self.mu_w) + self.mu_b
        if self.noisy if noisy is None else noisy:
            if self.noise == "factorised":
                outputs += self._factorised_noise_term(inputs, noise_seed)
            else:
                outputs += self._independent_noise_term(inputs, noise_seed)
        return self.activation(outputs) if self.activation is not None else outputs

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.units])

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=tf.keras.activations.serialize(self.activation),
            noise=self.noise,
            sigma_0=self.sigma_0,
            noisy=self.noisy,
            mu_initializer=(
                tf.keras.initializers.serialize(self.mu_initializer)
                if self.mu_initializer is not None
                else None
            ),
        )
        return config
