"""Selective attention of DRAW (Gregor et al. 2015, arXiv 1502.04623, Sec. 3.2-3.3).

An N x N grid of Gaussian filters is placed on a B x A image (B rows, the height;
A columns, the width) by five numbers that a linear map of the decoder state
emits (Eq. 21):

    (g~X, g~Y, log sigma^2, log delta~, log gamma) = W(h_dec)

The grid centre and stride are, in the paper's 1-based pixel coordinates
(Eqs. 22-24),

    gX = (A + 1) / 2 (g~X + 1),   gY = (B + 1) / 2 (g~Y + 1),
    delta = (max(A, B) - 1) / (N - 1) delta~,

so that g~ = 0, delta~ = 1 spreads the grid over the whole image. Filter
i = 1..N is centred at `mu_X^i = gX + (i - N/2 - 0.5) delta` (Eqs. 19-20), and
the filterbanks are (Eqs. 25-26)

    F_X[i, a] = exp(-(a - mu_X^i)^2 / (2 sigma^2)) / Z_X,   a = 1..A,
    F_Y[j, b] = exp(-(b - mu_Y^j)^2 / (2 sigma^2)) / Z_Y,   b = 1..B,

each filter normalised to sum to one over the image axis. Reading extracts
`gamma F_Y x F_X^T` (Eq. 27) and writing adds `(1 / gamma^) F^_Y^T w F^_X`
(Eq. 29), with its own, hatted attention parameters.
"""

import tensorflow as tf

from tfgen.checks import check_int

NUM_WINDOW_PARAMS = 5  # (g~X, g~Y, log sigma^2, log delta~, log gamma), Eq. 21


def _check_params(params):
    params = tf.convert_to_tensor(params)
    if params.shape.rank != 2 or params.shape[-1] != NUM_WINDOW_PARAMS:
        raise ValueError(
            f"params: expected shape [batch, {NUM_WINDOW_PARAMS}] holding "
            f"(g~X, g~Y, log sigma^2, log delta~, log gamma), got {params.shape}."
        )
    if not params.dtype.is_floating:
        raise TypeError(f"params: expected a float tensor, got {params.dtype.name}.")
    return params


def attention_window(params, n, height, width):
    """The attention grid that `params` place on a `height` x `width` image.

    Args:
      params: float [batch, 5], `(g~X, g~Y, log sigma^2, log delta~, log gamma)`,
        the linear map of the decoder state (arXiv 1502.04623, Eq. 21).
      n: int N >= 1, filters per grid side.
      height: int B, image rows.
      width: int A, image columns.

    Returns:
      `(g_x, g_y, delta, sigma2, gamma)`, each float [batch]: the grid centre in
      1-based pixel coordinates (column, row), the stride between filters, the
      filters' variance sigma^2 and the intensity gamma (Eqs. 22-24).

    Example:

    >>> g_x, g_y, delta, sigma2, gamma = attention_window(tf.zeros([1, 5]), 3, 4, 6)
    >>> [float(v[0]) for v in (g_x, g_y, delta, sigma2, gamma)]
    [3.5, 2.5, 2.5, 1.0, 1.0]
    """
    params = _check_params(params)
    n = check_int(n, "n")
    height, width = check_int(height, "height"), check_int(width, "width")
    g_x, g_y, log_sigma2, log_delta, log_gamma = tf.unstack(params, axis=-1)
    # 1502.04623 Eqs. 22-24; with one filter the offset i - N/2 - 0.5 is 0 and delta is unused.
    stride_scale = (max(height, width) - 1) / (n - 1) if n > 1 else 0.0
    return (
        (width + 1) / 2 * (g_x + 1.0),
        (height + 1) / 2 * (g_y + 1.0),
        stride_scale * tf.exp(log_delta),
        tf.exp(log_sigma2),
        tf.exp(log_gamma),
    )


def _gaussian_filters(mu, sigma2, size):
    """F[b, i, a] = exp(-(a - mu_i)^2 / (2 sigma^2)) / Z for a = 1..size (Eqs. 25-26).

    The normalisation over `a` is a softmax of the exponent: the same as dividing
    by Z, without dividing by zero when every filter value underflows.
    """
    a = tf.range(1, size + 1, dtype=mu.dtype)
    exponent = -tf.square(a - mu[..., None]) / (2.0 * sigma2[:, None, None])
    return tf.nn.softmax(exponent, axis=-1)


def filterbank(params, n, height, width):
    """The DRAW filterbank matrices F_X, F_Y and intensity gamma (arXiv 1502.04623, Sec. 3.2).

    Args:
      params: float [batch, 5], `(g~X, g~Y, log sigma^2, log delta~, log gamma)`
        (Eq. 21).
      n: int N >= 1, filters per grid side.
      height: int B, image rows.
      width: int A, image columns.

    Returns:
      `(f_x, f_y, gamma)`: `f_x` float [batch, n, width] (F_X, Eq. 25), `f_y`
      float [batch, n, height] (F_Y, Eq. 26), each row summing to one, and
      `gamma` float [batch].

    Example:

    >>> f_x, f_y, gamma = filterbank(tf.zeros([2, 5]), n=3, height=4, width=6)
    >>> f_x.shape, f_y.shape, gamma.shape
    (TensorShape([2, 3, 6]), TensorShape([2, 3, 4]), TensorShape([2]))
    >>> tf.reduce_sum(f_x, axis=-1).numpy().round(6).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    params = _check_params(params)
    g_x, g_y, delta, sigma2, gamma = attention_window(params, n, height, width)
    # 1502.04623 Eqs. 19-20: mu^i = g + (i - N/2 - 0.5) delta, i = 1..N.
    offsets = tf.range(1, n + 1, dtype=params.dtype) - (n / 2 + 0.5)
    mu_x = g_x[:, None] + offsets * delta[:, None]
    mu_y = g_y[:, None] + offsets * delta[:, None]
    return (_gaussian_filters(mu_x, sigma2, width), _gaussian_filters(mu_y, sigma2, height), gamma)


def _check_image(image, name):
    if image.shape.rank != 3 or image.shape[1] is None or image.shape[2] is None:
        raise ValueError(
            f"{name}: expected a float tensor [batch, height, width] with known "
            f"height and width, got shape {image.shape}."
        )
    return image


@tf.keras.saving.register_keras_serializable(package="tfgen")
class AttentionRead(tf.keras.layers.Layer):
    """DRAW's read with attention: an N x N glimpse of the image and of the error image.

    `read(x, x^, h_dec) = gamma [F_Y x F_X^T, F_Y x^ F_X^T]`, flattened, where
    `F_X`, `F_Y`, `gamma` come from `filterbank(W(h_dec), N, B, A)`. The only
    weights are those of the linear map `W` (`window`, 5 outputs).

    Reference:
      Gregor et al. 2015, "DRAW: A Recurrent Neural Network For Image
      Generation", arXiv 1502.04623, Sec. 3.2 (Eqs. 19-26, the filterbank),
      Sec. 3.3 (Eq. 27, reading with attention).

    Args:
      read_size: int N >= 1, the glimpse is N x N per input image.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: a tuple `(image, error_image, state)`: the image x and the error
        image x^ = x - sigmoid(c_{t-1}), float [batch, height, width] each, and
        the previous decoder state h_dec float [batch, units].

    Returns:
      Float tensor [batch, 2 * N * N]: the glimpse of x, then that of x^.

    Example:

    >>> read = AttentionRead(read_size=2)
    >>> image = tf.ones([3, 28, 28])
    >>> glimpse = read((image, image, tf.zeros([3, 16])))
    >>> glimpse.shape
    TensorShape([3, 8])
    >>> round(float(glimpse[0, 0]), 5)  # gamma = 1 at h_dec = 0, each filter sums to one
    1.0
    """

    def __init__(self, read_size=2, **kwargs):
        super().__init__(**kwargs)
        self.read_size = check_int(read_size, "read_size")
        self.window = tf.keras.layers.Dense(NUM_WINDOW_PARAMS, name="window")  # Eq. 21

    def build(self, input_shape):
        self.window.build(tf.TensorShape(input_shape[2]))
        super().build(input_shape)

    # 1502.04623 Sec. 3.3, Eq. 27.
    def call(self, inputs):
        image, error_image, state = inputs
        image = _check_image(image, "image")
        _, height, width = image.shape
        f_x, f_y, gamma = filterbank(self.window(state), self.read_size, height, width)
        glimpses = [
            tf.matmul(f_y, tf.matmul(_check_image(x, name), f_x, transpose_b=True))
            for x, name in ((image, "image"), (error_image, "error_image"))
        ]
        glimpse = tf.concat([tf.reshape(g, [-1, self.read_size**2]) for g in glimpses], -1)
        return gamma[:, None] * glimpse

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([tf.TensorShape(input_shape[0])[0], 2 * self.read_size**2])

    def get_config(self):
        return {**super().get_config(), "read_size": self.read_size}


@tf.keras.saving.register_keras_serializable(package="tfgen")
class AttentionWrite(tf.keras.layers.Layer):
    """DRAW's write with attention: an N x N patch spread onto the canvas.

    `w_t = W(h_dec)` (the N x N patch, Eq. 28) and
    `write(h_dec) = (1 / gamma^) F^_Y^T w_t F^_X` (Eq. 29), with `F^_X`, `F^_Y`,
    `gamma^` from `filterbank(W^(h_dec), N, B, A)`: attention parameters of
    their own (`window`), separate from the read's.

    Reference:
      Gregor et al. 2015, "DRAW: A Recurrent Neural Network For Image
      Generation", arXiv 1502.04623, Sec. 3.2 (Eqs. 19-26, the filterbank),
      Sec. 3.3 (Eqs. 28-29, writing with attention).

    Args:
      write_size: int N >= 1, the patch is N x N.
      height: int B, canvas rows.
      width: int A, canvas columns.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: the decoder state h_dec, float [batch, units].

    Returns:
      Float tensor [batch, height, width], the increment of the canvas c_t.

    Example:

    >>> write = AttentionWrite(write_size=5, height=28, width=28)
    >>> write(tf.zeros([3, 16])).shape
    TensorShape([3, 28, 28])
    """

    def __init__(self, write_size=5, height=28, width=28, **kwargs):
        super().__init__(**kwargs)
        self.write_size = check_int(write_size, "write_size")
        self.height = check_int(height, "height")
        self.width = check_int(width, "width")
        self.patch = tf.keras.layers.Dense(self.write_size**2, name="patch")  # Eq. 28
        self.window = tf.keras.layers.Dense(NUM_WINDOW_PARAMS, name="window")  # Eq. 21, hatted

    def build(self, input_shape):
        self.patch.build(tf.TensorShape(input_shape))
        self.window.build(tf.TensorShape(input_shape))
        super().build(input_shape)

    # 1502.04623 Sec. 3.3, Eqs. 28-29.
    def call(self, inputs):
        n = self.write_size
        patch = tf.reshape(self.patch(inputs), [-1, n, n])
        f_x, f_y, gamma = filterbank(self.window(inputs), n, self.height, self.width)
        canvas = tf.matmul(f_y, tf.matmul(patch, f_x), transpose_a=True)
        return canvas / gamma[:, None, None]

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([tf.TensorShape(input_shape)[0], self.height, self.width])

    def get_config(self):
        return {
            **super().get_config(),
            "write_size": self.write_size,
            "height": self.height,
            "width": self.width,
        }
