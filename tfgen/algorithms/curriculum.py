"""Automated curriculum learning (Graves et al. 2017, arXiv 1704.03003).

A curriculum is a set of N tasks `D_1 .. D_N`; the syllabus picks the task of
every training batch. The Exp3.S adversarial bandit (Auer et al. 2002) plays
the tasks as arms, rewarded by how much the network learns from each batch
(Sec. 3): a learning-progress signal (Sec. 4), rescaled to [-1, 1] by the
quantiles of its own history (Sec. 3.1).

- `Exp3S`: the bandit, Sec. 3 Eqs. (1)-(2) of the paper.
- `Reservoir`, `rescale`: the reward history and its quantile rescaling, Sec. 3.1.
- `Learner`: a Keras model, its loss and one optimizer step, compiled once;
  the signals measure it.
- The signals, Sec. 4: loss-driven `prediction_gain`,
  `gradient_prediction_gain`, `self_prediction_gain`,
  `target_prediction_gain`, `mean_prediction_gain` (Sec. 4.1) and, for a
  model with variational weights (`tfgen.layers.noisy_dense.NoisyDense` with
  independent noise: a diagonal Gaussian posterior), complexity-driven
  `variational_complexity_gain` and `gradient_variational_complexity_gain`
  (Sec. 4.2); `SIGNALS` names them.
- `CurriculumSampler`: Algorithm 1 of the paper, one call per training step.
- `repeat_copy_tasks`: the repeat-copy curriculum of Sec. 5, one task per
  (sequence length, number of repeats).
"""

import numpy as np
import scipy.special
import tensorflow as tf

from tfgen import data
from tfgen.checks import check_float, check_int
from tfgen.layers.noisy_dense import NoisyDense


class Exp3S:
    """The Exp3.S bandit over `num_tasks` arms (1704.03003 Sec. 3, after Auer et al. 2002).

    The policy is `pi(i) = (1 - epsilon) softmax(w)_i + epsilon / N` (Eq. 1).
    After playing arm `k` with reward `r` in [-1, 1], drawn under `pi`, the
    importance-sampled rewards are `r~_i = (r [k == i] + beta) / pi(i)`, `pi`
    the policy that drew `k` (computed from the weights before the update),
    and each weight becomes (Eq. 2)

        w_i <- log[(1 - alpha) exp(w_i + eta r~_i)
                   + alpha / (N - 1) sum_{j != i} exp(w_j + eta r~_j)],

    evaluated as a log-sum-exp. The weights start at zero. With one arm there
    is nothing to share (`N - 1 = 0`) and nothing to choose: the policy is
    `[1.0]` and `update` leaves the weights at zero.

    Args:
      num_tasks: int N >= 1, the number of arms (tasks).
      eta: float > 0, the step size (1e-3 in the paper's experiments).
      beta: float >= 0, the optimism added to every arm's reward (0 in the paper).
      epsilon: float in [0, 1], the share of uniform exploration (0.05 in the paper).
      alpha: float in [0, 1], the weight shared between arms each step, which
        lets the policy track a non-stationary best arm.

    Example:

    >>> bandit = Exp3S(3, eta=0.5, beta=0.0, epsilon=0.3, alpha=0.0)
    >>> bandit.probabilities()
    array([0.33333333, 0.33333333, 0.33333333])
    >>> bandit.update(0, 1.0)
    >>> bool(bandit.probabilities()[0] > 0.5)
    True
    """

    def __init__(self, num_tasks, eta=1e-3, beta=0.0, epsilon=0.05, alpha=1e-3):
        self.num_tasks = check_int(num_tasks, "num_tasks")
        self.eta = check_float(eta, "eta", 0.0, low_open=True)
        self.beta = check_float(beta, "beta", 0.0)
        self.epsilon = check_float(epsilon, "epsilon", 0.0, 1.0)
        self.alpha = check_float(alpha, "alpha", 0.0, 1.0)
        self.weights = np.zeros(self.num_tasks)
        # 1704.03003 Eq. 2: log of the mixing coefficients, 1 - alpha kept, alpha / (N - 1) shared.
        if self.num_tasks > 1:
            share = np.full((self.num_tasks, self.num_tasks), self.alpha / (self.num_tasks - 1))
            np.fill_diagonal(share, 1.0 - self.alpha)
            self._share = share

    def probabilities(self):
        """The policy `pi` [N] (float64), from the current weights (Eq. 1)."""
        # 1704.03003 Eq. 1: pi = (1 - epsilon) softmax(w) + epsilon / N.
        return (1.0 - self.epsilon) * scipy.special.softmax(
            self.weights
        ) + self.epsilon / self.num_tasks

    def sample(self, rng):
        """Draws an arm from `pi` with `rng`, a `numpy.random.Generator`; returns an int."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}.")
        return int(rng.choice(self.num_tasks, p=self.probabilities()))

    def update(self, task, reward):
        """Feeds back `reward` in [-1, 1] for arm `task`, drawn under the current policy (Eq. 2)."""
        task = check_int(task, "task", 0)
        if task >= self.num_tasks:
            raise ValueError(f"task: expected an int < num_tasks={self.num_tasks}, got {task}.")
        reward = check_float(reward, "reward", -1.0, 1.0)
        if self.num_tasks == 1:
            return
        # 1704.03003 Sec. 3: importance-sampled rewards with optimism beta.
        rewards = (reward * (np.arange(self.num_tasks) == task) + self.beta) / self.probabilities()
        exponents = self.weights + self.eta * rewards
        # 1704.03003 Eq. 2: w_i = log sum_j share_ij exp(w_j + eta r~_j).
        self.weights = scipy.special.logsumexp(exponents[None, :], b=self._share, axis=1)


class Reservoir:
    """A uniform sample of at most `capacity` values of a stream (reservoir sampling, Algorithm R).

    The bounded history of unscaled learning progress of 1704.03003 Sec. 3.1:
    after `n` values have been added, `values` holds `min(n, capacity)` of
    them, each of the `n` equally likely to be kept.

    Args:
      capacity: int >= 1, the most values kept.
      seed: seed of the generator choosing which values are kept.

    Example:

    >>> history = Reservoir(2, seed=0)
    >>> for value in (1.0, 2.0, 3.0):
    ...     history.add(value)
    >>> len(history), history.count
    (2, 3)
    """

    def __init__(self, capacity, seed=None):
        self.capacity = check_int(capacity, "capacity")
        self._rng = np.random.default_rng(seed)
        self._values = []
        self.count = 0

    def add(self, value):
        """Offers `value` (a finite float) to the reservoir."""
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"value: expected a finite float, got {value!r}.")
        self.count += 1
        if len(self._values) < self.capacity:
            self._values.append(value)
            return
        slot = self._rng.integers(self.count)
        if slot < self.capacity:
            self._values[slot] = value

    @property
    def values(self):
        """The kept values, float64 [min(count, capacity)]."""
        return np.asarray(self._values, np.float64)

    def __len__(self):
        return len(self._values)


def rescale(gain, history, low=20.0, high=80.0):
    """Maps an unscaled gain to a reward in [-1, 1] by the quantiles of `history` (Sec. 3.1).

    With `q_lo`, `q_hi` the 20th and 80th percentiles of the history
    (`numpy.percentile`, linear interpolation): -1 below `q_lo`, +1 above
    `q_hi`, `2 (gain - q_lo) / (q_hi - q_lo) - 1` between. The history is the
    gains *before* this one (1704.03003 Sec. 3.1 keeps the rewards of the
    earlier steps): rescale, then add the gain to the `Reservoir`. With an
    empty history, or `q_lo == q_hi` and the gain equal to both, the reward
    is 0, the middle of the range.

    Args:
      gain: float, the unscaled learning progress.
      history: 1-D array-like of earlier unscaled gains (`Reservoir.values`).
      low, high: the percentiles mapped to -1 and +1.

    Returns:
      A float in [-1, 1].

    Example:

    >>> rescale(3.0, [0.0, 10.0])
    -0.6666666666666667
    """
    history = np.asarray(history, np.float64)
    if history.ndim != 1:
        raise ValueError(f"history: expected a 1-D array, got shape {history.shape}.")
    gain = float(gain)
    if history.size == 0:
        return 0.0
    # 1704.03003 Sec. 3.1: the 20th and 80th percentiles of the reward history.
    q_lo, q_hi = np.percentile(history, [low, high])
    if gain < q_lo:
        return -1.0
    if gain > q_hi:
        return 1.0
    if q_hi == q_lo:
        return 0.0
    return float(2.0 * (gain - q_lo) / (q_hi - q_lo) - 1.0)


def variational_layers(model):
    """The `NoisyDense` layers of `model` with independent noise (diagonal Gaussian posteriors)."""
    layers = [layer for layer in model.submodules if isinstance(layer, NoisyDense)]
    factorised = [layer.name for layer in layers if layer.noise != "independent"]
    if factorised:
        raise ValueError(
            f"model: expected NoisyDense layers with noise='independent' (a diagonal Gaussian "
            f"posterior), got factorised noise in {factorised}."
        )
    return layers


def _gaussian_kl(mu, sigma):
    """KL(N(mu, sigma^2) || Q), Q the optimal Gaussian prior of the values (Graves 2011, Sec. 5)."""
    # Adaptive prior: the mean and variance minimising the KL, shared by the layer's weights.
    prior_mean = tf.reduce_mean(mu)
    prior_var = tf.reduce_mean(tf.square(sigma) + tf.square(mu - prior_mean))
    size = tf.cast(tf.size(mu), mu.dtype)
    # KL of diagonal Gaussians; the quadratic terms sum to size / 2 at the optimal prior.
    return 0.5 * size * tf.math.log(prior_var) - tf.reduce_sum(tf.math.log(tf.abs(sigma)))


def complexity(model):
    """The model complexity `KL(P_phi || Q_psi)` in nats (1704.03003 Sec. 4.2).

    The posterior `P_phi` is the diagonal Gaussian `N(mu, sigma^2)` of the
    weights and biases of every independent-noise `NoisyDense` layer in
    `model`; the prior `Q_psi` is one Gaussian per layer with the mean and
    variance that minimise the KL (the adaptive prior of Graves 2011,
    "Practical Variational Inference for Neural Networks", Sec. 5), so that
    `psi` follows `phi` at every step.

    Args:
      model: a built Keras model holding at least one such layer.

    Returns:
      A float32 scalar tensor.
    """
    layers = variational_layers(model)
    if not layers:
        raise ValueError("model: expected at least one NoisyDense layer, got none.")
    total = 0.0
    for layer in layers:
        mu = tf.concat([tf.reshape(layer.mu_w, [-1]), layer.mu_b], 0)
        sigma = tf.concat([tf.reshape(layer.sigma_w, [-1]), layer.sigma_b], 0)
        total += _gaussian_kl(mu, sigma)
    return total


def default_loss(model, batch):
    """The scalar training loss of `batch`.

    `model.compute_losses(batch, training=True)[0]` for a tfgen model, else the
    compiled Keras loss `model.compute_loss(x, y, model(x))` of an `(x, y)` batch.
    """
    if hasattr(model, "compute_losses"):
        return model.compute_losses(batch, training=True)[0]
    x, y = batch
    return model.compute_loss(x, y, model(x, training=True))


def _dot(grads, other):
    """Sum of elementwise products of two gradient lists (None counts as zero)."""
    terms = [tf.reduce_sum(g * h) for g, h in zip(grads, other) if g is not None and h is not None]
    return tf.add_n(terms) if terms else tf.constant(0.0)


class Learner:
    """A Keras model, its loss and one optimizer step, as compiled functions the signals call.

    Args:
      model: a built `tf.keras.Model`; `model.optimizer` (set by `compile`)
        is used unless `optimizer` is given.
      loss_fn: `loss_fn(model, batch)` -> scalar loss tensor; defaults to
        `default_loss`. For a variational model it is the loss trained on
        (e.g. the expected data loss plus `complexity(model)` over the number
        of training examples, the MDL loss of Sec. 4.2).
      optimizer: a `tf.keras.optimizers.Optimizer`, or None.
      jit_compile: compile the functions with XLA.

    Attributes:
      bayesian: whether the model has variational (`NoisyDense`) layers, so
        that the complexity signals apply.
      last_loss: a scalar variable, the loss of the latest `step`'s batch
        (before its update), for logging.
    """

    def __init__(self, model, loss_fn=None, optimizer=None, jit_compile=False):
        self.model = model
        self.loss_fn = loss_fn or default_loss
        self.optimizer = optimizer or model.optimizer
        if self.optimizer is None:
            raise ValueError("optimizer: expected one, or a compiled model; got neither.")
        self.bayesian = bool(variational_layers(model))
        self.last_loss = tf.Variable(np.nan, dtype=tf.float32, trainable=False)
        self.loss = tf.function(self._loss, jit_compile=jit_compile)
        self.step = tf.function(self._step, jit_compile=jit_compile)
        self.complexity = tf.function(lambda: complexity(model), jit_compile=jit_compile)

    def _loss(self, batch):
        return self.loss_fn(self.model, batch)

    def _step(self, batch):
        """One optimizer step on `batch`.

        Returns a dict of scalars taken before the step: `loss`,
        `grad_sq_norm` (`||g||^2`) and, for a variational model, `complexity`
        (the KL) and `complexity_dot` (`grad KL . g`).
        """
        variables = self.model.trainable_variables
        with tf.GradientTape(persistent=self.bayesian) as tape:
            loss = self.loss_fn(self.model, batch)
            kl = complexity(self.model) if self.bayesian else None
        grads = tape.gradient(loss, variables)
        self.last_loss.assign(tf.cast(loss, tf.float32))
        out = {"loss": loss, "grad_sq_norm": _dot(grads, grads)}
        if self.bayesian:
            out.update(complexity=kl, complexity_dot=_dot(tape.gradient(kl, variables), grads))
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        return out


def prediction_gain(learner, batch):
    """Prediction gain `nu_PG = L(x, theta) - L(x, theta')` (1704.03003 Sec. 4.1).

    Trains `learner` on `batch` (x) and returns the drop of the loss on the
    same batch, `theta'` the parameters after the step.

    Args:
      learner: a `Learner`.
      batch: one training batch of the task played.

    Returns:
      A float.
    """
    before = learner.step(batch)["loss"]
    # 1704.03003 Sec. 4.1: nu_PG = L(x, theta) - L(x, theta').
    return float(before - learner.loss(batch))


def gradient_prediction_gain(learner, batch, learning_rate=1.0):
    """Gradient prediction gain `nu_GPG = ||grad L(x, theta)||^2` (1704.03003 Sec. 4.1).

    The first-order Taylor expansion of the prediction gain: a gradient step
    `theta' = theta - lr g` lowers the loss by `lr ||g||^2` to first order.
    The paper drops the step size (`learning_rate=1`); the rescaling of
    Sec. 3.1 ignores the scale. Trains `learner` on `batch` (no extra pass).

    Args:
      learner: a `Learner`.
      batch: one training batch of the task played.
      learning_rate: the factor `lr` (pass the SGD step size to get the
        first-order prediction gain).

    Returns:
      A float.
    """
    # 1704.03003 Sec. 4.1: nu_GPG = ||grad_theta L(x, theta)||^2.
    return float(learning_rate * learner.step(batch)["grad_sq_norm"])


def _held_out_gain(learner, batch, held_out):
    """`L(x', theta) - L(x', theta')`, mean over the `held_out` batches x', training on `batch`."""
    before = [learner.loss(x) for x in held_out]
    learner.step(batch)
    return float(np.mean([b - learner.loss(x) for b, x in zip(before, held_out)]))


def self_prediction_gain(learner, batch, fresh_batch):
    """Self prediction gain `nu_SPG = L(x', theta) - L(x', theta')`, `x' ~ D_k` (Sec. 4.1).

    The prediction gain on a fresh batch `x'` of the task `k` played, so that
    the gain is not biased by fitting `x` itself.

    Args:
      learner: a `Learner`, trained on `batch`.
      batch: one training batch of task `k`.
      fresh_batch: another batch of task `k`.

    Returns:
      A float.
    """
    return _held_out_gain(learner, batch, [fresh_batch])


def target_prediction_gain(learner, batch, target_batch):
    """Target prediction gain `nu_TPG = L(x', theta) - L(x', theta')`, `x' ~ D_N` (Sec. 4.1).

    The prediction gain on a batch of the target task `N`.

    Args:
      learner: a `Learner`, trained on `batch`.
      batch: one training batch of the task played.
      target_batch: a batch of the target task.

    Returns:
      A float.
    """
    return _held_out_gain(learner, batch, [target_batch])


def mean_prediction_gain(learner, batch, task_batches):
    """Mean prediction gain `nu_MPG = L(x', theta) - L(x', theta')`, `x' ~ D_k, k ~ U_N` (Sec. 4.1).

    The prediction gain averaged over the tasks. The paper draws one task
    uniformly, an unbiased one-sample estimate of the mean (pass
    `[batch_of_a_uniform_task]`); one batch per task gives the mean itself.

    Args:
      learner: a `Learner`, trained on `batch`.
      batch: one training batch of the task played.
      task_batches: a non-empty list of batches, each of a task.

    Returns:
      A float.
    """
    if not task_batches:
        raise ValueError("task_batches: expected at least one batch, got none.")
    return _held_out_gain(learner, batch, list(task_batches))


def _check_bayesian(learner):
    if not learner.bayesian:
        raise ValueError(
            "learner: the complexity gains need a model with NoisyDense(noise='independent') "
            "layers (a variational posterior), got a model without any."
        )


def variational_complexity_gain(learner, batch):
    """Variational complexity gain `nu_VCG = KL(P_phi' || Q_psi') - KL(P_phi || Q_psi)` (Sec. 4.2).

    The growth of the model complexity (`complexity`) over one training step
    on `batch`: the information the step writes into the weights.

    Args:
      learner: a `Learner` of a variational model (`Learner.bayesian`).
      batch: one training batch of the task played.

    Returns:
      A float.
    """
    _check_bayesian(learner)
    before = learner.step(batch)["complexity"]
    # 1704.03003 Sec. 4.2: nu_VCG = KL(P_phi'||Q_psi') - KL(P_phi||Q_psi).
    return float(learner.complexity() - before)


def gradient_variational_complexity_gain(learner, batch, learning_rate=1.0):
    """Gradient variational complexity gain, `-lr grad KL . grad L` (1704.03003 Sec. 4.2).

    The first-order Taylor expansion of the variational complexity gain: the
    paper's `nu_GVCG = [grad_{phi,psi} KL(P_phi || Q_psi)]^T grad_phi L`. A
    step `phi' = phi - lr g` on the learner's loss (`g = grad_phi L`) changes
    the KL by `-lr grad KL . g` to first order; this keeps that sign (so a
    step that adds information scores higher) and the factor `lr`
    (`learning_rate=1` for the paper's scale, which the rescaling of Sec. 3.1
    ignores). The prior's `psi` is at its optimum, so `grad_psi KL = 0`.
    Trains `learner` on `batch` (no extra pass).

    Args:
      learner: a `Learner` of a variational model (`Learner.bayesian`).
      batch: one training batch of the task played.
      learning_rate: the factor `lr`.

    Returns:
      A float.
    """
    _check_bayesian(learner)
    return float(-learning_rate * learner.step(batch)["complexity_dot"])


# Signal names (as `--curriculum SIGNAL` takes them) -> (function, extra batch it needs).
SIGNALS = {
    "prediction_gain": (prediction_gain, None),
    "gradient_prediction_gain": (gradient_prediction_gain, None),
    "self_prediction_gain": (self_prediction_gain, "self"),
    "target_prediction_gain": (target_prediction_gain, "target"),
    "mean_prediction_gain": (mean_prediction_gain, "uniform"),
    "variational_complexity_gain": (variational_complexity_gain, None),
    "gradient_variational_complexity_gain": (gradient_variational_complexity_gain, None),
}
UNIFORM = "uniform"
COMPLEXITY_SIGNALS = ("variational_complexity_gain", "gradient_variational_complexity_gain")


class CurriculumSampler:
    """Algorithm 1 of 1704.03003: the syllabus chosen by Exp3.S from a learning-progress signal.

    Each `step()` draws a task `k` from the bandit's policy, trains the
    learner on a batch of `D_k` while measuring the signal `nu`, divides it by
    the task's cost `tau` (the time to process its batch, 1 by default),
    rescales the rate `nu / tau` by the quantiles of the earlier ones
    (`rescale`, a `Reservoir` history), then updates the bandit. With
    `signal="uniform"` it samples tasks uniformly and only trains (the
    baseline).

    Args:
      learner: a `Learner`.
      tasks: list of N iterables of batches (e.g. `tf.data.Dataset`s that
        repeat), one per task.
      signal: a name in `SIGNALS`, or `"uniform"`.
      target_task: index of the target task (the last by default), for
        `target_prediction_gain`.
      bandit: an `Exp3S` over the N tasks; default `Exp3S(N)` (the paper's
        eta = 1e-3, beta = 0, epsilon = 0.05, and alpha = 1e-3).
      history: the `Reservoir` capacity of the reward history.
      costs: None, or N positive floats `tau` (e.g. sequence lengths).
      seed: seed of the task draws and of the reservoir.

    Example (in a training loop):

    ```python
    learner = Learner(model)  # a compiled model
    sampler = CurriculumSampler(learner, [d.as_numpy_iterator() for d in tasks], "prediction_gain")
    for _ in range(num_steps):
        info = sampler.step()  # {"task", "gain", "reward", "probabilities"}
    ```
    """

    def __init__(
        self,
        learner,
        tasks,
        signal="prediction_gain",
        target_task=-1,
        bandit=None,
        history=1000,
        costs=None,
        seed=0,
    ):
        if signal != UNIFORM and signal not in SIGNALS:
            raise ValueError(f"signal: expected one of {[UNIFORM, *SIGNALS]}, got {signal!r}.")
        if signal in COMPLEXITY_SIGNALS:
            _check_bayesian(learner)
        self.learner, self.signal = learner, signal
        self.tasks = [iter(task) for task in tasks]
        num_tasks = len(self.tasks)
        if num_tasks == 0:
            raise ValueError("tasks: expected at least one task, got none.")
        self.target_task = range(num_tasks)[target_task]
        self.bandit = bandit or Exp3S(num_tasks)
        if self.bandit.num_tasks != num_tasks:
            raise ValueError(
                f"bandit: expected {num_tasks} arms (one per task), got {self.bandit.num_tasks}."
            )
        self.costs = np.ones(num_tasks) if costs is None else np.asarray(costs, np.float64)
        if self.costs.shape != (num_tasks,) or not np.all(self.costs > 0):
            raise ValueError(f"costs: expected {num_tasks} positive floats, got {costs!r}.")
        self.history = Reservoir(history, seed)
        self.rng = np.random.default_rng(seed)

    def probabilities(self):
        """The current task distribution [N]."""
        if self.signal == UNIFORM:
            return np.full(len(self.tasks), 1.0 / len(self.tasks))
        return self.bandit.probabilities()

    def _extra_batch(self, kind, task):
        if kind == "self":
            return next(self.tasks[task])
        if kind == "target":
            return next(self.tasks[self.target_task])
        return [next(self.tasks[self.rng.integers(len(self.tasks))])]

    def step(self):
        """One training step on a task of the syllabus.

        Returns:
          A dict: `task` (int), `probabilities` (the policy it was drawn
          from), and unless uniform, `gain` (unscaled) and `reward` (in [-1, 1]).
        """
        probabilities = self.probabilities()
        if self.signal == UNIFORM:
            task = int(self.rng.choice(len(self.tasks)))
            self.learner.step(next(self.tasks[task]))
            return {"task": task, "probabilities": probabilities}
        # 1704.03003 Algorithm 1: draw k from pi, train on x ~ D_k, measure nu.
        task = self.bandit.sample(self.rng)
        function, extra = SIGNALS[self.signal]
        batch = next(self.tasks[task])
        args = () if extra is None else (self._extra_batch(extra, task),)
        gain = function(self.learner, batch, *args) / self.costs[task]
        # 1704.03003 Sec. 3.1: rescale by the history of earlier gains, then record the gain.
        reward = rescale(gain, self.history.values)
        self.history.add(gain)
        self.bandit.update(task, reward)
        return {"task": task, "probabilities": probabilities, "gain": gain, "reward": reward}


def _exact_repeat_copy(features, length, repeats):
    """Whether a `repeat_copy` example has sequence length `length` and `repeats` repeats."""
    num_bits = features["targets"].shape[-1] - 1
    # The delimiter flag is on input channel num_bits at step `length`.
    example_length = tf.argmax(features["inputs"][:, num_bits], output_type=tf.int32)
    # The mask covers `length * repeats` copied steps and the end marker.
    outputs = tf.cast(tf.reduce_sum(features["mask"]), tf.int32)
    return (example_length == length) & (outputs == length * repeats + 1)


def repeat_copy_tasks(max_len, max_repeats, num_bits=8, batch_size=32, split="train", seed=0):
    """The repeat-copy curriculum (1704.03003 Sec. 5): one task per (length, repeats).

    Task `(l, r)` is the `tfgen.data` `repeat_copy` stream of `max_len`,
    `max_repeats` (so every task shares one input encoding and one padded
    length `T = max_len (max_repeats + 1) + 2`) kept to the examples of
    exactly `l` vectors copied `r` times. Tasks are ordered by length, then
    repeats; the last, `(max_len, max_repeats)`, is the hardest (the target).

    Args:
      max_len, max_repeats: ints >= 1, the largest task.
      num_bits: bits per vector.
      batch_size: examples per batch.
      split: "train" or "test".
      seed: the data seed.

    Returns:
      `(names, datasets)`: the task names `"l=..,r=.."` and, for each, an
      endless `tf.data.Dataset` of batches.
    """
    options = dict(num_bits=num_bits, max_len=max_len, max_repeats=max_repeats)
    stream = data.load("repeat_copy", split, seed=seed, **options)
    names, datasets = [], []
    for length in range(1, max_len + 1):
        for repeats in range(1, max_repeats + 1):
            names.append(f"l={length},r={repeats}")
            task = stream.filter(
                lambda features, length=length, repeats=repeats: _exact_repeat_copy(
                    features, length, repeats
                )
            )
            datasets.append(task.batch(batch_size, drop_remainder=True).prefetch(2))
    return names, datasets
