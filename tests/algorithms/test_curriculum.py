"""Tests of tfgen.algorithms.curriculum: Exp3.S, reward rescaling and the signals (1704.03003)."""

import numpy as np
import pytest
import tensorflow as tf

from tfgen.algorithms import curriculum
from tfgen.algorithms.curriculum import (
    CurriculumSampler,
    Exp3S,
    Learner,
    Reservoir,
    complexity,
    gradient_prediction_gain,
    gradient_variational_complexity_gain,
    mean_prediction_gain,
    prediction_gain,
    repeat_copy_tasks,
    rescale,
    self_prediction_gain,
    target_prediction_gain,
    variational_complexity_gain,
)
from tfgen.layers.noisy_dense import NoisyDense


# ------------------------------------------------------------------ Exp3.S
def _reference_exp3s(num_tasks, eta, beta, epsilon, alpha, plays):
    """Exp3.S of 1704.03003 Sec. 3 in plain loops: the policies before each play, final weights."""
    w = [0.0] * num_tasks
    policies = []
    for task, reward in plays:
        z = sum(np.exp(v) for v in w)
        pi = [(1 - epsilon) * np.exp(v) / z + epsilon / num_tasks for v in w]
        policies.append(pi)
        r = [((reward if i == task else 0.0) + beta) / pi[i] for i in range(num_tasks)]
        e = [np.exp(w[i] + eta * r[i]) for i in range(num_tasks)]
        w = [
            np.log(
                (1 - alpha) * e[i]
                + alpha / (num_tasks - 1) * sum(e[j] for j in range(num_tasks) if j != i)
            )
            for i in range(num_tasks)
        ]
    return np.array(policies), np.array(w)


@pytest.mark.parametrize(
    "eta, beta, epsilon, alpha",
    [(0.1, 0.0, 0.05, 0.01), (0.5, 0.2, 0.3, 0.5), (0.2, 0.0, 0.01, 0.0)],
)
def test_exp3s_matches_reference(eta, beta, epsilon, alpha):
    rng = np.random.default_rng(0)
    plays = [(int(rng.integers(4)), float(rng.uniform(-1, 1))) for _ in range(50)]
    policies, weights = _reference_exp3s(4, eta, beta, epsilon, alpha, plays)
    bandit = Exp3S(4, eta=eta, beta=beta, epsilon=epsilon, alpha=alpha)
    np.testing.assert_array_equal(bandit.weights, np.zeros(4))
    for (task, reward), policy in zip(plays, policies):
        np.testing.assert_allclose(bandit.probabilities(), policy, rtol=1e-9, atol=1e-15)
        bandit.update(task, reward)
    np.testing.assert_allclose(bandit.weights, weights, rtol=1e-10, atol=1e-12)


def test_exp3s_large_weights_stay_finite():
    bandit = Exp3S(3, eta=50.0, beta=0.0, epsilon=0.01, alpha=0.01)
    for _ in range(200):
        bandit.update(0, 1.0)
    assert np.all(np.isfinite(bandit.weights)) and bandit.probabilities()[0] > 0.98
    np.testing.assert_allclose(bandit.probabilities().sum(), 1.0)


def _pull_bernoulli(bandit, means, pulls, rng, switch=None):
    for step in range(pulls):
        current = means if switch is None or step < switch[0] else switch[1]
        arm = bandit.sample(rng)
        bandit.update(arm, float(rng.random() < current[arm]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stationary_bandit_best_arm_dominates(seed):
    bandit = Exp3S(3, eta=0.05, beta=0.0, epsilon=0.05, alpha=0.0)
    _pull_bernoulli(bandit, [0.2, 0.5, 0.8], 3000, np.random.default_rng(seed))
    # The best arm takes more than 0.8 of the policy (of at most 1 - 2 epsilon / 3 = 0.967).
    assert bandit.probabilities()[2] > 0.8


def test_weight_sharing_tracks_a_switch():
    """After the best arm changes, alpha > 0 moves to it; alpha = 0 stays locked on the old one."""
    final = {}
    for alpha in (0.0, 0.02):
        bandit = Exp3S(3, eta=0.1, beta=0.0, epsilon=0.05, alpha=alpha)
        switch = (3000, [0.8, 0.5, 0.2])
        _pull_bernoulli(bandit, [0.2, 0.5, 0.8], 3500, np.random.default_rng(0), switch)
        final[alpha] = bandit.probabilities()[0]
    assert final[0.02] > 0.5 > final[0.0]


def test_exp3s_one_task():
    bandit = Exp3S(1, eta=0.1, beta=0.0, epsilon=0.05, alpha=0.5)
    bandit.update(0, 1.0)
    np.testing.assert_array_equal(bandit.weights, [0.0])
    np.testing.assert_array_equal(bandit.probabilities(), [1.0])
    assert bandit.sample(np.random.default_rng(0)) == 0


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(num_tasks=0), ValueError, "num_tasks"),
        (dict(num_tasks=2.0), TypeError, "num_tasks"),
        (dict(eta=0.0), ValueError, "eta"),
        (dict(eta="1"), TypeError, "eta"),
        (dict(beta=-0.1), ValueError, "beta"),
        (dict(epsilon=1.5), ValueError, "epsilon"),
        (dict(alpha=-0.1), ValueError, "alpha"),
        (dict(alpha=float("nan")), ValueError, "alpha"),
        (dict(epsilon=True), TypeError, "epsilon"),
    ],
)
def test_exp3s_argument_errors(kwargs, error, message):
    arguments = dict(num_tasks=3, eta=0.1, beta=0.0, epsilon=0.05, alpha=0.01) | kwargs
    with pytest.raises(error, match=message):
        Exp3S(**arguments)


def test_exp3s_update_and_sample_errors():
    bandit = Exp3S(3, eta=0.1, beta=0.0, epsilon=0.05, alpha=0.01)
    with pytest.raises(ValueError, match="reward"):
        bandit.update(0, 1.5)
    with pytest.raises(ValueError, match="task"):
        bandit.update(3, 0.5)
    with pytest.raises(TypeError, match="task"):
        bandit.update(1.0, 0.5)
    with pytest.raises(TypeError, match="rng"):
        bandit.sample(np.random.RandomState(0))


# ------------------------------------------------------------------ rescaling
def test_rescale_maps_quantiles_and_is_linear_between():
    history = np.random.default_rng(0).normal(size=101)
    q_lo, q_hi = np.percentile(history, [20, 80])
    assert rescale(q_lo, history) == pytest.approx(-1.0)
    assert rescale(q_hi, history) == pytest.approx(1.0)
    for fraction in (0.1, 0.25, 0.5, 0.9):
        gain = q_lo + fraction * (q_hi - q_lo)
        assert rescale(gain, history) == pytest.approx(2 * fraction - 1)
    assert rescale(q_lo - 1e-6, history) == -1.0 and rescale(-100.0, history) == -1.0
    assert rescale(q_hi + 1e-6, history) == 1.0 and rescale(100.0, history) == 1.0


def test_rescale_degenerate_histories():
    assert rescale(5.0, []) == 0.0
    assert rescale(2.0, [2.0, 2.0]) == 0.0
    assert rescale(1.0, [2.0, 2.0]) == -1.0 and rescale(3.0, [2.0, 2.0]) == 1.0
    with pytest.raises(ValueError, match="1-D"):
        rescale(1.0, [[1.0]])


def test_reservoir_keeps_a_uniform_sample():
    kept = np.zeros(10)
    for seed in range(2000):
        reservoir = Reservoir(3, seed=seed)
        for value in range(10):
            reservoir.add(value)
        assert len(reservoir) == 3 and reservoir.count == 10
        kept[reservoir.values.astype(int)] += 1
    # Each of the 10 values is kept with probability 3 / 10 (binomial sd 0.01 over 2000 runs).
    np.testing.assert_allclose(kept / 2000, 0.3, atol=0.04)


def test_reservoir_below_capacity_and_errors():
    reservoir = Reservoir(5, seed=0)
    for value in (3.0, 1.0):
        reservoir.add(value)
    np.testing.assert_array_equal(reservoir.values, [3.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        reservoir.add(float("inf"))
    with pytest.raises(ValueError, match="capacity"):
        Reservoir(0)


# ------------------------------------------------------------------ signals
LR = 0.05


def _linear_learner(lr=LR, use_bias=True):
    """y = x w + b with a mean squared error, trained by SGD: a convex problem."""
    tf.keras.utils.set_random_seed(0)
    dense = tf.keras.layers.Dense(1, use_bias=use_bias, kernel_initializer="zeros")
    model = tf.keras.Sequential([dense])
    model.compile(tf.keras.optimizers.SGD(lr), loss="mse")
    model.build([None, 3])
    return Learner(model)


def _task_batch(slope, seed, size=16):
    x = np.random.default_rng(seed).normal(size=(size, 3)).astype(np.float32)
    return x, (x @ np.full((3, 1), slope)).astype(np.float32)


def _np_loss_grad(w, b, batch):
    """Mean squared error of y = x w + b and its gradients (NumPy, float64)."""
    x, y = (np.asarray(a, np.float64) for a in batch)
    residual = x @ w + b - y
    return np.mean(residual**2), 2 * x.T @ residual / len(x), 2 * np.mean(residual, 0)


def _np_gain(learner, batch, held_out, lr=LR):
    """L(x', theta) - L(x', theta - lr grad L(x, theta)) from the learner's current weights."""
    w, b = (np.asarray(v, np.float64) for v in learner.model.get_weights())
    _, grad_w, grad_b = _np_loss_grad(w, b, batch)
    before = _np_loss_grad(w, b, held_out)[0]
    return before - _np_loss_grad(w - lr * grad_w, b - lr * grad_b, held_out)[0]


def test_prediction_gain_positive_and_exact():
    learner, batch = _linear_learner(), _task_batch(2.0, 0)
    expected = _np_gain(learner, batch, batch)
    gain = prediction_gain(learner, batch)
    assert gain > 0
    assert gain == pytest.approx(expected, rel=1e-4)


def test_gradient_prediction_gain_is_first_order_prediction_gain():
    small = 1e-3
    learner, batch = _linear_learner(small), _task_batch(2.0, 0)
    w, b = (np.asarray(v, np.float64) for v in learner.model.get_weights())
    _, grad_w, grad_b = _np_loss_grad(w, b, batch)
    squared_norm = np.sum(grad_w**2) + np.sum(grad_b**2)
    exact = _np_gain(learner, batch, batch, lr=small)
    gain = gradient_prediction_gain(learner, batch, learning_rate=small)
    assert gain == pytest.approx(small * squared_norm, rel=1e-4)
    # Second-order terms are O(lr^2): the two agree to about lr * ||H|| relative.
    assert gain == pytest.approx(exact, rel=0.02)
    assert learner.model.get_weights()[0][0, 0] > 0  # the step was taken


def test_self_prediction_gain_on_a_fresh_batch():
    learner = _linear_learner()
    batch, fresh = _task_batch(2.0, 0), _task_batch(2.0, 1)
    expected = _np_gain(learner, batch, fresh)
    gain = self_prediction_gain(learner, batch, fresh)
    assert gain > 0 and gain == pytest.approx(expected, rel=1e-4)


def test_target_prediction_gain_negative_for_an_opposite_task():
    learner = _linear_learner()
    batch, target = _task_batch(2.0, 0), _task_batch(-2.0, 1)
    expected = _np_gain(learner, batch, target)
    gain = target_prediction_gain(learner, batch, target)
    assert gain < 0 and gain == pytest.approx(expected, rel=1e-4)


def test_mean_prediction_gain_averages_the_tasks():
    learner = _linear_learner()
    batch = _task_batch(2.0, 0)
    tasks = [_task_batch(2.0, 1), _task_batch(-2.0, 2), _task_batch(0.5, 3)]
    expected = np.mean([_np_gain(learner, batch, task) for task in tasks])
    assert mean_prediction_gain(learner, batch, tasks) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="task_batches"):
        mean_prediction_gain(learner, batch, [])


def _np_gaussian_kl(mu, sigma, prior_mean, prior_std):
    """KL(N(mu, sigma^2) || N(prior_mean, prior_std^2)) summed over the entries."""
    terms = (
        np.log(prior_std / np.abs(sigma))
        + (sigma**2 + (mu - prior_mean) ** 2) / (2 * prior_std**2)
        - 0.5
    )
    return np.sum(terms, axis=-1)


def _np_complexity(model):
    """The KL of each NoisyDense layer to its best Gaussian prior, found numerically."""
    total = 0.0
    for layer in (layer for layer in model.submodules if isinstance(layer, NoisyDense)):
        mu = np.concatenate([np.ravel(layer.mu_w.numpy()), layer.mu_b.numpy()]).astype(np.float64)
        sigma = np.concatenate([np.ravel(layer.sigma_w.numpy()), layer.sigma_b.numpy()])
        sigma = sigma.astype(np.float64)
        means = np.linspace(mu.min(), mu.max(), 201)[:, None, None]
        stds = np.exp(np.linspace(-6, 2, 801))[None, :, None]
        total += np.min(_np_gaussian_kl(mu, sigma, means, stds))
    return total


def _bayesian_learner(lr, noisy=True):
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential(
        [
            tf.keras.layers.Dense(4, activation="tanh"),
            NoisyDense(1, noise="independent", noisy=noisy, sigma_0=0.1),
        ]
    )
    model.build([None, 3])

    def mdl_loss(model, batch):
        x, y = batch
        return tf.reduce_mean(tf.square(model(x) - y)) + complexity(model) / 100.0

    return Learner(model, mdl_loss, tf.keras.optimizers.SGD(lr))


def test_complexity_is_the_kl_to_the_best_prior():
    learner = _bayesian_learner(LR)
    # The closed form is the minimum over priors; a grid search comes within its step.
    assert float(complexity(learner.model)) == pytest.approx(
        _np_complexity(learner.model), abs=0.05
    )


def test_variational_complexity_gain_is_the_kl_change():
    learner = _bayesian_learner(LR)
    before = _np_complexity(learner.model)
    gain = variational_complexity_gain(learner, _task_batch(2.0, 0))
    assert gain == pytest.approx(_np_complexity(learner.model) - before, abs=0.1)
    assert gain != 0.0


def test_gradient_variational_complexity_gain_is_first_order():
    small = 1e-4
    batch = _task_batch(2.0, 0)
    exact = variational_complexity_gain(_bayesian_learner(small, noisy=False), batch)
    approx = gradient_variational_complexity_gain(
        _bayesian_learner(small, noisy=False), batch, learning_rate=small
    )
    assert approx == pytest.approx(exact, rel=1e-2)


def test_complexity_signals_need_a_variational_model():
    learner, batch = _linear_learner(), _task_batch(2.0, 0)
    for signal in (variational_complexity_gain, gradient_variational_complexity_gain):
        with pytest.raises(ValueError, match="NoisyDense"):
            signal(learner, batch)
    model = tf.keras.Sequential([NoisyDense(1)])  # factorised noise: not a diagonal Gaussian
    model.build([None, 3])
    with pytest.raises(ValueError, match="independent"):
        complexity(model)


# ------------------------------------------------------------------ the sampler
def test_sampler_prefers_the_task_with_learning_progress():
    """Task 0 teaches nothing (zero inputs: zero gradient, no bias); task 1 is learnable."""
    learner = _linear_learner(1e-3, use_bias=False)  # slow enough that the gains stay high
    zeros = (np.zeros((16, 3), np.float32), np.zeros((16, 1), np.float32))
    rng = np.random.default_rng(0)

    def learnable():
        while True:
            yield _task_batch(2.0, int(rng.integers(1 << 30)))

    bandit = Exp3S(2, eta=0.1, beta=0.0, epsilon=0.05, alpha=0.0)
    sampler = CurriculumSampler(learner, [iter(lambda: zeros, None), learnable()], bandit=bandit)
    infos = [sampler.step() for _ in range(200)]
    assert {info["task"] for info in infos} == {0, 1}
    assert all(-1.0 <= info["reward"] <= 1.0 for info in infos)
    assert all(info["gain"] == 0.0 for info in infos if info["task"] == 0)
    assert sampler.history.count == 200
    assert sampler.probabilities()[1] > 0.8


@pytest.mark.parametrize("signal", [*curriculum.SIGNALS, "uniform"])
def test_sampler_runs_every_signal(signal):
    learner = _bayesian_learner(LR)
    streams = [iter(lambda s=s: _task_batch(s, 0), None) for s in (1.0, 2.0, -1.0)]
    sampler = CurriculumSampler(learner, streams, signal, seed=1)
    infos = [sampler.step() for _ in range(3)]
    assert all(0 <= info["task"] < 3 for info in infos)
    assert all(np.isfinite(info.get("gain", 0.0)) for info in infos)
    if signal == "uniform":
        np.testing.assert_allclose(sampler.probabilities(), 1 / 3)


def test_sampler_argument_errors():
    learner = _linear_learner()
    streams = [iter([]), iter([])]
    with pytest.raises(ValueError, match="signal"):
        CurriculumSampler(learner, streams, "loss")
    with pytest.raises(ValueError, match="tasks"):
        CurriculumSampler(learner, [])
    with pytest.raises(ValueError, match="bandit"):
        CurriculumSampler(learner, streams, bandit=Exp3S(3))
    with pytest.raises(ValueError, match="costs"):
        CurriculumSampler(learner, streams, costs=[1.0, 0.0])
    with pytest.raises(ValueError, match="NoisyDense"):
        CurriculumSampler(learner, streams, "variational_complexity_gain")


def test_repeat_copy_tasks_hold_exact_lengths_and_repeats():
    names, datasets = repeat_copy_tasks(2, 3, num_bits=2, batch_size=4)
    assert names == [f"l={length},r={repeats}" for length in (1, 2) for repeats in (1, 2, 3)]
    for name, dataset in zip(names, datasets):
        length, repeats = (int(part.split("=")[1]) for part in name.split(","))
        batch = next(iter(dataset))
        assert batch["inputs"].shape == (4, 2 * 4 + 2, 4)
        np.testing.assert_array_equal(batch["mask"].numpy().sum(1), length * repeats + 1)
        np.testing.assert_array_equal(np.argmax(batch["inputs"][:, :, 2], 1), length)
