"""DRAW: a recurrent variational auto-encoder that draws on a canvas (arXiv 1502.04623).

Gregor et al. 2015. For t = 1..T, with c_0, h_enc_0, h_dec_0 learned biases
(Sec. 2, Eqs. 3-8):

    x^_t    = x - sigmoid(c_{t-1})
    r_t     = read(x, x^_t, h_dec_{t-1})
    h_enc_t = LSTM_enc(h_enc_{t-1}, [r_t, h_dec_{t-1}])
    z_t     ~ Q(Z_t | h_enc_t) = N(mu_t, sigma_t),  mu_t = W(h_enc_t), sigma_t = exp(W(h_enc_t))
    h_dec_t = LSTM_dec(h_dec_{t-1}, z_t)
    c_t     = c_{t-1} + write(h_dec_t)

The loss (Sec. 2.2, Eqs. 9-12) is L^x + L^z: the Bernoulli cross-entropy of x
under sigmoid(c_T) and the KL of each step's posterior to N(0, I), summed over
the T steps. It is the negative of a variational lower bound, so `log_prob`
= -(L^x + L^z) is a lower bound on log p(x) (an upper bound in nats).

`attention=True` reads an N x N glimpse and writes an N x N patch through
Gaussian filterbanks (Sec. 3.2-3.3, `tfgen.layers.draw_attention`);
`attention=False` reads the whole image and error image and writes the whole
canvas through a linear map (Sec. 3.1). Sampling (Sec. 2.3) runs the decoder
on z_t ~ N(0, I) and returns every canvas. Both the inference and the
generation loops over the T glimpses are `tf.while_loop`s.
"""

import tensorflow as tf

from tfgen import noise, registry
from tfgen.checks import check_int
from tfgen.layers.draw_attention import AttentionRead, AttentionWrite
from tfgen.models.image_model import EVAL_SEED, ImageModel, single_channel_shape
from tfgen.signatures import signature_function

_POSTERIOR_NOISE, _PRIOR_NOISE, _PIXEL_NOISE = 1, 2, 3  # `noise.stream_seed` streams


def _stacked(array):
    """A `TensorArray` of T [batch, ...] tensors as one tensor [batch, T, ...]."""
    stacked = array.stack()
    return tf.transpose(stacked, [1, 0, *range(2, stacked.shape.rank)])


@registry.register(
    "draw",
    dataset="mnist",
    dataset_options={"view": "binary"},
    data_hparams=lambda info: {"image_shape": tuple(info.image_shape)},
    signatures=("serving_default", "log_prob", "sample"),
)
class DRAW(ImageModel):
    """Deep Recurrent Attentive Writer on binary images, with or without attention.

    The defaults are the paper's binarised-MNIST model (arXiv 1502.04623,
    Table 3): 64 glimpses, 256-unit encoder and decoder LSTMs, 100-d z_t, a
    2 x 2 read and a 5 x 5 write.

    Args:
      image_shape: (height, width, 1) of the binary images (B x A in the paper).
      attention: bool; True reads and writes through Gaussian filterbanks
        (Sec. 3.2-3.3), False reads the whole image and writes the whole canvas
        (Sec. 3.1).
      num_glimpses: int T, the steps of the encoder and decoder.
      hidden_units: int, units of each LSTM.
      latent_dim: int, the size of each z_t.
      read_size: int N of the N x N read glimpse (with attention).
      write_size: int N of the N x N write patch (with attention).

    Call arguments:
      features: a dict with `image` int32 [B, H, W, 1] in {0, 1} (other keys
        are ignored), or the image tensor itself.
      training: bool; True draws fresh posterior noise, False the fixed
        evaluation draw.

    Returns:
      Float32 [B]: -(L^x + L^z), the variational lower bound on log p(x) in
      nats from one draw of z_1..z_T (not the exact log-probability).

    Example:

    >>> model = DRAW(image_shape=(8, 8, 1), num_glimpses=3, hidden_units=8, latent_dim=2)
    >>> model.example_features(4)["image"].shape
    TensorShape([4, 8, 8, 1])
    >>> model(model.example_features(4)).shape
    TensorShape([4])
    >>> image, canvases = model.sample(2, seed=1)
    >>> image.shape, canvases.shape  # the T canvases sigmoid(c_t) of each sample
    (TensorShape([2, 8, 8, 1]), TensorShape([2, 3, 8, 8, 1]))
    """

    metric_names = ("nats_per_example", "reconstruction_loss", "latent_loss")

    def __init__(
        self,
        image_shape=(28, 28, 1),
        attention=True,
        num_glimpses=64,
        hidden_units=256,
        latent_dim=100,
        read_size=2,
        write_size=5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = single_channel_shape(image_shape)
        if not isinstance(attention, bool):
            raise TypeError(
                f"attention: expected a bool, got {attention!r} ({type(attention).__name__})."
            )
        self.attention = attention
        self.num_glimpses = check_int(num_glimpses, "num_glimpses")
        self.hidden_units = check_int(hidden_units, "hidden_units")
        self.latent_dim = check_int(latent_dim, "latent_dim")
        self.read_size = check_int(read_size, "read_size")
        self.write_size = check_int(write_size, "write_size")
        height, width, _ = self.image_shape
        self.encoder = tf.keras.layers.LSTMCell(self.hidden_units, name="encoder")
        self.decoder = tf.keras.layers.LSTMCell(self.hidden_units, name="decoder")
        self.posterior_loc = tf.keras.layers.Dense(self.latent_dim, name="posterior_loc")
        self.posterior_log_scale = tf.keras.layers.Dense(
            self.latent_dim, name="posterior_log_scale"
        )
        if attention:
            self.reader = AttentionRead(self.read_size, name="read")
            self.writer = AttentionWrite(self.write_size, height, width, name="write")
        else:
            self.writer = tf.keras.layers.Dense(self.num_dims, name="write")  # Eq. 18

    def build(self, input_shape=None):
        """Creates every weight (the glimpse loop must not create variables)."""
        height, width, _ = self.image_shape
        units = self.hidden_units
        read_dims = 2 * self.read_size**2 if self.attention else 2 * self.num_dims
        self.encoder.build([None, read_dims + units])
        self.decoder.build([None, self.latent_dim])
        self.posterior_loc.build([None, units])
        self.posterior_log_scale.build([None, units])
        if self.attention:
            self.reader.build(([None, height, width], [None, height, width], [None, units]))
        self.writer.build([None, units])
        # 1502.04623 Sec. 2.1: c_0, h_enc_0 and h_dec_0 are learned biases.
        self.canvas_0 = self.add_weight(name="canvas_0", shape=[self.num_dims], initializer="zeros")
        self.encoder_state_0 = self.add_weight(
            name="encoder_state_0", shape=[units], initializer="zeros"
        )
        self.decoder_state_0 = self.add_weight(
            name="decoder_state_0", shape=[units], initializer="zeros"
        )
        self.built = True

    # ---------------------------------------------------------------- network
    def _initial_state(self, batch):
        """(c_0, LSTM_enc state, LSTM_dec state): the learned biases, cell states zero."""

        def lstm_state(h_0):
            h = tf.tile(h_0[None], [batch, 1])
            return [h, tf.zeros_like(h)]

        return (
            tf.tile(self.canvas_0[None], [batch, 1]),
            lstm_state(self.encoder_state_0),
            lstm_state(self.decoder_state_0),
        )

    def _read(self, x, x_hat, h_dec):
        if not self.attention:
            return tf.concat([x, x_hat], axis=-1)  # 1502.04623 Eq. 17
        shape = [-1, *self.image_shape[:2]]
        return self.reader((tf.reshape(x, shape), tf.reshape(x_hat, shape), h_dec))  # Eq. 27

    def _write(self, h_dec):
        if not self.attention:
            return self.writer(h_dec)  # 1502.04623 Eq. 18
        return tf.reshape(self.writer(h_dec), [-1, self.num_dims])  # Eq. 29

    def _infer(self, x, seed):
        """The T steps of Eqs. 3-8 on flat images x float [B, H*W]; see `infer`."""
        if not self.built:  # e.g. `fit` on a new model: the loop below must not create weights
            self.build()
        batch = tf.shape(x)[0]
        eps = noise.normal_from_seed(
            tf.stack([self.num_glimpses, batch, self.latent_dim]),
            noise.stream_seed(seed, _POSTERIOR_NOISE),
        )
        names = ("z", "loc", "scale", "kl") + (("read_window",) if self.attention else ())
        arrays = {name: tf.TensorArray(tf.float32, self.num_glimpses) for name in names}

        def step(t, canvas, encoder_state, decoder_state, arrays):
            h_dec = decoder_state[0]
            x_hat = x - tf.sigmoid(canvas)  # 1502.04623 Eq. 3
            r = self._read(x, x_hat, h_dec)  # Eq. 4
            h_enc, encoder_state = self.encoder(tf.concat([r, h_dec], -1), encoder_state)  # Eq. 5
            loc = self.posterior_loc(h_enc)  # Eq. 1
            log_scale = self.posterior_log_scale(h_enc)
            scale = tf.exp(log_scale)  # Eq. 2
            z = loc + scale * eps[t]  # Eq. 6, reparameterised: dz/dmu = 1, dz/dsigma = eps
            _, decoder_state = self.decoder(z, decoder_state)  # Eq. 7
            canvas = canvas + self._write(decoder_state[0])  # Eq. 8
            # Eq. 11, one step: KL(N(mu, sigma) || N(0, I)) = (mu^2 + sigma^2 - log sigma^2 - 1)/2.
            kl = 0.5 * tf.reduce_sum(
                tf.square(loc) + tf.square(scale) - 2.0 * log_scale - 1.0, axis=-1
            )
            values = {"z": z, "loc": loc, "scale": scale, "kl": kl}
            if self.attention:
                values["read_window"] = self.reader.window(h_dec)  # Eq. 21 of this read
            arrays = {name: arrays[name].write(t, values[name]) for name in names}
            return t + 1, canvas, encoder_state, decoder_state, arrays

        loop_vars = (tf.constant(0), *self._initial_state(batch), arrays)
        _, canvas, _, _, arrays = tf.while_loop(
            lambda t, *_: t < self.num_glimpses,
            step,
            loop_vars,
            maximum_iterations=self.num_glimpses,
        )
        return {"canvas": canvas, **{name: _stacked(arrays[name]) for name in names}}

    def infer(self, image, seed=EVAL_SEED):
        """Runs the encoder and decoder over the T glimpses (Eqs. 3-8) on `image`.

        Args:
          image: int [B, H, W, 1] binary images (or a features dict).
          seed: int; the posterior noise of z_t = mu_t + sigma_t eps_t.

        Returns:
          A dict: `canvas` c_T float [B, H*W] (Bernoulli logits); per step `z`,
          `loc` (mu_t) and `scale` (sigma_t) float [B, T, latent_dim], `kl`
          KL(Q(Z_t | h_enc_t) || N(0, I)) float [B, T]; with attention,
          `read_window` float [B, T, 5], the read's (g~X, g~Y, log sigma^2,
          log delta~, log gamma) at each step.
        """
        return self._infer(self._flat_image(image), tf.cast(seed, tf.int64))

    def _loss_terms(self, x, seed):
        """L^x and L^z [B] in nats (Eqs. 9-11) for flat images x, and c_T [B, H*W]."""
        outputs = self._infer(x, seed)
        logits = outputs["canvas"]
        # 1502.04623 Eq. 9: L^x = -log D(x | c_T), Bernoulli with means sigmoid(c_T).
        reconstruction = tf.reduce_sum(tf.nn.softplus(logits) - x * logits, axis=-1)
        latent = tf.reduce_sum(outputs["kl"], axis=-1)  # Eq. 10: summed over the T steps
        return reconstruction, latent, logits

    def call(self, features, training=False):
        reconstruction, latent, _ = self._loss_terms(
            self._flat_image(features), self._loss_seed(training)
        )
        return -(reconstruction + latent)

    # --------------------------------------------------------------- density
    def compute_losses(self, features, training=False):
        reconstruction, latent, _ = self._loss_terms(
            self._flat_image(features), self._loss_seed(training)
        )
        nats = reconstruction + latent  # 1502.04623 Eq. 12, one sample of z
        return tf.reduce_mean(nats), {
            "nats_per_example": nats,
            "reconstruction_loss": reconstruction,
            "latent_loss": latent,
        }

    def log_prob(self, image, seed=EVAL_SEED):
        """A variational lower bound on log p(x) [B] in nats: -(L^x + L^z).

        This is not the exact log-probability: `-log_prob` is an upper bound on
        the negative log-likelihood in nats (the paper's reported "<=" numbers),
        here estimated with one draw of z_1..z_T from Q.

        Args:
          image: int [B, H, W, 1] binary images.
          seed: int; the posterior draw.
        """
        reconstruction, latent, _ = self._loss_terms(
            self._flat_image(image), tf.cast(seed, tf.int64)
        )
        return -(reconstruction + latent)

    # -------------------------------------------------------------- sampling
    def _generate(self, num_samples, seed):
        """Eqs. 13-16: z_t ~ N(0, I) through the decoder; (image, canvas means)."""
        z = noise.normal_from_seed(
            tf.stack([self.num_glimpses, num_samples, self.latent_dim]),
            noise.stream_seed(seed, _PRIOR_NOISE),
        )
        canvas, _, decoder_state = self._initial_state(num_samples)

        def step(t, canvas, decoder_state, canvases):
            _, decoder_state = self.decoder(z[t], decoder_state)  # 1502.04623 Eq. 14
            canvas = canvas + self._write(decoder_state[0])  # Eq. 15
            return t + 1, canvas, decoder_state, canvases.write(t, tf.sigmoid(canvas))

        _, _, _, canvases = tf.while_loop(
            lambda t, *_: t < self.num_glimpses,
            step,
            (tf.constant(0), canvas, decoder_state, tf.TensorArray(tf.float32, self.num_glimpses)),
            maximum_iterations=self.num_glimpses,
        )
        shape = tf.concat([[num_samples, self.num_glimpses], self.image_shape], axis=0)
        canvases = tf.reshape(_stacked(canvases), shape)
        probs = canvases[:, -1]
        u = noise.uniform_from_seed(tf.shape(probs), noise.stream_seed(seed, _PIXEL_NOISE))
        return tf.cast(u < probs, tf.int32), canvases  # Eq. 16: x ~ D(X | c_T)

    def sample(self, num_samples, seed=0, jit_compile=True):
        """Draws binary images and the canvases that drew them (Sec. 2.3).

        Args:
          num_samples: int N.
          seed: int; the same seed gives the same images with or without XLA.
          jit_compile: run the glimpse loop under XLA (on a CPU about 3x faster
            than the graph loop with attention, a little slower without;
            docs/RESULTS.md).

        Returns:
          `(image, canvases)`: int32 [N, H, W, 1] drawn from Bernoulli(sigmoid(c_T)),
          and float32 [N, T, H, W, 1], the Bernoulli means sigmoid(c_t) of every
          canvas c_1..c_T (the last one is the image's).
        """
        num_samples = check_int(num_samples, "num_samples", 1)
        self.build_example()
        return self._function("sample", self._generate, bool(jit_compile))(
            tf.constant(num_samples, tf.int32), tf.constant(seed, tf.int64)
        )

    # ---------------------------------------------------------------- export
    def signatures(self, jit_compile=False):
        """`serving_default`, `log_prob` and `sample` as `tf.function`s.

        - `serving_default(image)`: `log_prob_lower_bound` (= -(L^x + L^z)),
          `nats_upper_bound` (= L^x + L^z) and `reconstruction` (sigmoid(c_T)
          [B, H, W, 1]), one z-draw with a fixed seed.
        - `log_prob(image, seed)`: `log_prob_lower_bound`, `nats_upper_bound`,
          `reconstruction_loss` (L^x) and `latent_loss` (L^z), one z-draw from
          `seed`. The bound is not the exact log-probability.
        - `sample(num_samples, seed)`: `image` int32 [N, H, W, 1], `probs`
          (sigmoid(c_T)) and `canvases` (sigmoid(c_t), [N, T, H, W, 1]).

        Args:
          jit_compile: compile the sampling loop with XLA.
        """
        self.build_example()
        image_spec = tf.TensorSpec([None, *self.image_shape], tf.int32, name="image")
        seed_spec = tf.TensorSpec([], tf.int64, name="seed")

        def serving_default(image):
            reconstruction, latent, logits = self._loss_terms(
                self._flat_image(image), self._loss_seed(training=False)
            )
            nats = reconstruction + latent
            probs = tf.reshape(tf.sigmoid(logits), tf.shape(image))
            return {
                "log_prob_lower_bound": -nats,
                "nats_upper_bound": nats,
                "reconstruction": probs,
            }

        def log_prob(image, seed):
            reconstruction, latent, _ = self._loss_terms(self._flat_image(image), seed)
            nats = reconstruction + latent
            return {
                "log_prob_lower_bound": -nats,
                "nats_upper_bound": nats,
                "reconstruction_loss": reconstruction,
                "latent_loss": latent,
            }

        def sample(num_samples, seed):
            loop = self._function("sample", self._generate, True) if jit_compile else self._generate
            image, canvases = loop(num_samples, seed)
            return {"image": image, "probs": canvases[:, -1], "canvases": canvases}

        levels = {"image": (0, self.num_levels - 1)}
        return {
            "serving_default": signature_function(serving_default, [image_spec], levels),
            "log_prob": signature_function(log_prob, [image_spec, seed_spec], levels),
            "sample": signature_function(
                sample, [tf.TensorSpec([], tf.int32, name="num_samples"), seed_spec]
            ),
        }
