"""VAE with a mixture-of-Gaussians posterior (Graves 2016, 1607.05690): ELBO, bounds, training."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import special, stats

from tests import baselines
from tfgen import data
from tfgen.models.mixture_vae import MixtureVAE

SMALL = dict(image_shape=(8, 8, 1), num_components=3, latent_dim=4, hidden_units=32)


def _digits(split):
    batches = data.load("digits", split, batch_size=2000, shuffle=False, view="binary")
    return np.concatenate([b["image"].numpy() for b in batches])


def test_elbo_equals_numpy_reference():
    """ELBO = log Bern(x; decoder(z)) + log N(z; 0, I) - log q(z|x), from the paper's terms."""
    model = MixtureVAE(**SMALL)
    image = model.example_features(3, seed=1)["image"]
    model(model.example_features(1))
    x = tf.reshape(tf.cast(image, tf.float32), [3, -1])
    q = model.posterior(x)
    z = q.sample(tf.constant([5, 3], tf.int64))  # the model's key for seed 5
    logits = model.decode(z).numpy().astype(np.float64)
    p = special.expit(logits)
    xn = x.numpy()
    log_likelihood = np.sum(xn * np.log(p) + (1 - xn) * np.log1p(-p), axis=1)
    zn = z.numpy().astype(np.float64)
    log_prior = stats.norm.logpdf(zn).sum(axis=1)
    w = special.softmax(q.logits.numpy().astype(np.float64), axis=1)
    comp = stats.norm.logpdf(zn[:, None, :], q.loc.numpy(), q.scale.numpy()).sum(axis=2)
    log_q = special.logsumexp(comp, b=w, axis=1)
    expected = log_likelihood + log_prior - log_q
    np.testing.assert_allclose(model.elbo(image, 5).numpy(), expected, rtol=1e-4, atol=1e-3)


def test_importance_weighted_bound():
    model = MixtureVAE(**SMALL)
    image = model.example_features(4, seed=2)["image"]
    # One importance sample is the ELBO on the same draw.
    np.testing.assert_allclose(
        model.log_prob(image, 1, seed=9).numpy(), model.elbo(image, seed=9).numpy(), rtol=1e-6
    )
    elbo = np.mean([model.elbo(image, seed=s).numpy() for s in range(20)], axis=0)
    bound = model.log_prob(image, 500, seed=0).numpy()
    assert np.all(bound > elbo)  # L_S increases with S (Burda et al. 2016, Thm. 1)
    assert np.all(bound < 0.0)  # a bound on the log-probability of a discrete image


def test_mixture_weights_receive_gradients():
    """Graves' estimator gives the posterior mixture logits a learning signal (K > 1)."""
    features = MixtureVAE(**SMALL).example_features(8, seed=3)

    def logits_gradient(num_components):
        tf.keras.utils.set_random_seed(1)
        model = MixtureVAE(**{**SMALL, "num_components": num_components})
        model(features)
        with tf.GradientTape() as tape:
            loss, _ = model.compute_losses(features, training=True)
        return tape.gradient(loss, model.posterior_logits.kernel).numpy()

    assert np.abs(logits_gradient(3)).max() > 1e-3
    # With one component the weights are constant: the estimator gives them nothing.
    np.testing.assert_allclose(logits_gradient(1), 0.0, atol=1e-6)


def test_training_beats_independent_pixels():
    """A short run on binarised digits: test -ELBO below the independent-pixel baseline."""
    train, test = _digits("train"), _digits("test")
    baseline = baselines.independent_pixel_nats(train, test)
    model = MixtureVAE(**{**SMALL, "latent_dim": 8, "hidden_units": 64})
    model.compile(tf.keras.optimizers.Adam(3e-3))
    initial = -np.mean(model.elbo(test).numpy())
    dataset = data.load("digits", "train", batch_size=32, repeat=True, view="binary")
    model.fit(dataset, steps_per_epoch=1000, epochs=1, verbose=0)
    nats = -np.mean(np.mean([model.elbo(test, s).numpy() for s in range(5)], axis=0))
    # Measured: initial ~47.6, independent pixels 25.3, trained ~20.6 nats/image.
    assert initial > baseline
    assert nats < baseline - 3.0


def test_sample_is_deterministic_and_binary():
    model = MixtureVAE(**SMALL)
    image, probs = model.sample(5, seed=3)
    assert image.shape == (5, 8, 8, 1) and image.dtype == tf.int32
    assert set(np.unique(image.numpy())) <= {0, 1}
    assert np.all((probs.numpy() > 0) & (probs.numpy() < 1))
    again, _ = model.sample(5, seed=3, jit_compile=False)
    np.testing.assert_array_equal(again.numpy(), image.numpy())
    other, _ = model.sample(5, seed=4)
    assert np.any(other.numpy() != image.numpy())


def test_signature_outputs():
    model = MixtureVAE(**SMALL)
    signatures = model.signatures()
    image = model.example_features(2)["image"]
    out = signatures["serving_default"](image=image)
    np.testing.assert_allclose(out["nats_per_example"].numpy(), -out["elbo"].numpy())
    np.testing.assert_allclose(out["elbo"].numpy(), model.elbo(image).numpy(), rtol=1e-6)
    bound = signatures["log_prob"](
        image=image, num_samples=tf.constant(4), seed=tf.constant(1, tf.int64)
    )
    np.testing.assert_allclose(
        bound["log_prob"].numpy(), model.log_prob(image, 4, 1).numpy(), rtol=1e-6
    )
    sample = signatures["sample"](num_samples=tf.constant(3), seed=tf.constant(2, tf.int64))
    assert sample["image"].shape == (3, 8, 8, 1)


def test_errors():
    with pytest.raises(ValueError, match="num_components: expected an int >= 1, got 0"):
        MixtureVAE(**{**SMALL, "num_components": 0})
    with pytest.raises(TypeError, match="latent_dim: expected an int"):
        MixtureVAE(**{**SMALL, "latent_dim": 2.5})
    model = MixtureVAE(**SMALL)
    with pytest.raises(ValueError, match=r"image: expected shape \[batch, 8, 8, 1\]"):
        model.elbo(tf.zeros([2, 28, 28, 1], tf.int32))
    with pytest.raises(ValueError, match="expected an 'image' key"):
        model.compute_losses({"label": tf.zeros([2], tf.int32)})
