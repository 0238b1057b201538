"""Associative Compression Networks (1804.02476): loss, neighbours, index, daydreams, training."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import special, stats

from tests import baselines
from tests.conformance import goldens
from tfgen import data, noise, registry
from tfgen.layers import image_fingerprint
from tfgen.models.acn import ACN

SMALL = dict(
    image_shape=(8, 8, 1),
    latent_dim=4,
    hidden_units=32,
    num_components=3,
    num_neighbours=3,
    num_train_examples=64,
    num_layers=2,
    filters=8,
    kernel_size=3,
    first_kernel_size=3,
    output_filters=16,
)
# The trained models: binarised 8x8 `digits`, 1,437 train / 360 test images.
TRAINED = {
    **SMALL,
    "latent_dim": 8,
    "hidden_units": 64,
    "num_components": 5,
    "num_neighbours": 5,
    "num_train_examples": 1437,
}


def _digits(split):
    batches = data.load("digits", split, batch_size=2000, shuffle=False, view="binary")
    return np.concatenate([b["image"].numpy() for b in batches])


def _filled(model, num_images=40, seed=3):
    images = model.example_features(num_images, seed=seed)["image"]
    model.refresh_code_index(images.numpy())
    return images


def test_registered_with_the_training_set_as_index():
    assert registry.resolve_hparams("acn")["num_train_examples"] == 4000
    digits = registry.resolve_hparams("acn", dataset="digits", dataset_options={"view": "binary"})
    assert digits["num_train_examples"] == 1437 and digits["image_shape"] == (8, 8, 1)
    assert registry.resolve_hparams("acn")["num_neighbours"] == 5  # K of the paper's KNN(x)


def test_coding_cost_equals_numpy_reference():
    """KL(q || p(z|c~)) by one-sample Monte Carlo and -log r(x|z), from the paper's terms."""
    model = ACN(**SMALL)
    stored = _filled(model)
    image = tf.concat([stored[:2], model.example_features(2, seed=9)["image"]], axis=0)
    seed = 5
    costs = model.coding_cost(image, seed=seed, rank=1)
    # The neighbour: the second-nearest stored code that is not the image itself.
    code = model.encode(image).numpy().astype(np.float64)
    codes = model.code_index.codes.numpy()[:40].astype(np.float64)
    keys = model.code_index.keys.numpy()[:40]
    own = image_fingerprint(image).numpy()
    distances = np.sum((code[:, None] - codes[None]) ** 2, axis=2)
    distances[own[:, None] == keys[None]] = np.inf
    rows = np.argsort(distances, axis=1)[:, 1]
    np.testing.assert_array_equal(costs["neighbour"].numpy(), rows)
    # z = c + eps, q(z|x) = N(c, I), p(z|c~) = sum_k pi_k N(z; mu_k, diag sigma_k^2).
    eps = noise.normal_from_seed([4, 4], noise.stream_seed(seed, 0)).numpy().astype(np.float64)
    z = code + eps
    prior = model.prior(tf.constant(codes[rows], tf.float32))
    weights = special.log_softmax(prior.logits.numpy().astype(np.float64), axis=1)
    log_components = stats.norm.logpdf(z[:, None, :], prior.loc.numpy(), prior.scale.numpy()).sum(
        axis=2
    )
    kl = stats.norm.logpdf(z, code, 1.0).sum(axis=1) - special.logsumexp(
        weights + log_components, axis=1
    )
    np.testing.assert_allclose(costs["kl"].numpy(), kl, rtol=1e-4, atol=1e-4)
    # r(x|z): the decoder's per-pixel softmax, conditioned on z (h = z, s = a map of z).
    z = tf.constant(z, tf.float32)
    spatial = model.decoder.upsampler(model._spatial(z))
    logits = (
        model.decoder.network(tf.cast(image, tf.float32) * 2.0 - 1.0, z, spatial)
        .numpy()
        .astype(np.float64)
    )
    log_probs = special.log_softmax(logits, axis=-1)
    picked = np.take_along_axis(log_probs, image.numpy()[..., None], axis=-1)
    np.testing.assert_allclose(
        costs["reconstruction"].numpy(), -picked.sum(axis=(1, 2, 3, 4)), rtol=1e-4
    )
    np.testing.assert_allclose(costs["nats"].numpy(), kl - picked.sum(axis=(1, 2, 3, 4)), rtol=1e-4)


def test_training_draws_the_neighbour_uniformly_from_the_k_nearest():
    model = ACN(**SMALL)
    stored = _filled(model)
    image = stored[:4]
    code, keys = model.encode(image), image_fingerprint(image)
    knn = model.code_index.search(code, keys)[0].numpy()
    # 300 draws for each example at once: every row of the batch has its own uniform number.
    rows = model._neighbours(
        tf.tile(code, [300, 1]), tf.tile(keys, [300]), seed=tf.constant(7, tf.int64)
    )[0]
    chosen = rows.numpy().reshape(300, 4)
    for b in range(4):
        assert set(chosen[:, b]) == set(knn[b])  # every one of the K nearest, nothing else
        counts = np.bincount(np.searchsorted(np.sort(knn[b]), chosen[:, b]), minlength=3)
        assert stats.chisquare(counts).pvalue > 1e-3  # uniform over them
    assert not np.any(chosen == np.arange(4))  # never the example itself


def test_training_step_writes_the_batch_codes_into_the_index():
    model = ACN(**SMALL)
    first, second = model.example_features(6, seed=1), model.example_features(6, seed=2)
    model.compute_losses(first, training=True)
    assert int(model.code_index.size.numpy()) == 6
    codes = model.encode(first["image"]).numpy()
    model.compute_losses(second, training=True)
    model.compute_losses(first, training=True)  # seen again: its rows are rewritten
    assert int(model.code_index.size.numpy()) == 12
    np.testing.assert_allclose(model.code_index.codes.numpy()[:6], codes, rtol=1e-6)
    np.testing.assert_array_equal(
        model.code_index.keys.numpy()[:6], image_fingerprint(first["image"]).numpy()
    )
    model.compute_losses(model.example_features(6, seed=4), training=False)  # test images
    assert int(model.code_index.size.numpy()) == 12


def test_unconditional_prior_ignores_the_neighbour():
    codes = tf.random.stateless_normal([2, 4], [1, 2])
    for associative in (True, False):
        tf.keras.utils.set_random_seed(0)
        model = ACN(**{**SMALL, "associative": associative})
        model.build_example()
        a, b = model.prior(codes[:1]), model.prior(codes[1:])
        assert np.allclose(a.loc, b.loc) != associative


@pytest.fixture(scope="module")
def trained():
    """An ACN trained briefly on binarised digits, with its data."""
    tf.keras.utils.set_random_seed(0)
    train, test = _digits("train"), _digits("test")
    model = ACN(**TRAINED)
    model.compile(tf.keras.optimizers.Adam(3e-3))
    dataset = data.load("digits", "train", batch_size=32, repeat=True, view="binary")
    model.fit(dataset, steps_per_epoch=250, epochs=1, verbose=0)
    model.refresh_code_index(train)
    return model, train, test


def _mean_costs(model, test, draws=4):
    kl, reconstruction = zip(*[model.mean_costs(test, seed=s) for s in range(draws)])
    return float(np.mean(kl)), float(np.mean(reconstruction))


def test_training_beats_independent_pixels_with_informative_codes(trained):
    """A short run: the test coding cost KL + reconstruction falls below independent pixels."""
    model, train, test = trained
    baseline = baselines.independent_pixel_nats(train, test)
    kl, reconstruction = _mean_costs(model, test)
    # Measured: independent pixels 25.3, ACN 0.2 + 19.7 nats/image.
    assert kl + reconstruction < baseline - 3.0
    # The decoder reads z: another image's code reconstructs this image worse.
    code = model.encode(test)
    seed = tf.constant(0, tf.int64)
    own = model._costs(test, code, code, seed)[1].numpy().mean()
    swapped = model._costs(test, tf.roll(code, 1, axis=0), code, seed)[1].numpy().mean()
    assert swapped > own + 1.5  # measured: 22.4 against 19.7


def test_associative_prior_lowers_the_kl_of_a_fixed_encoder(trained):
    """Sec. 3: conditioning the prior on a neighbour's code lowers the coding cost of the code.

    The encoder and decoder of the trained ACN are frozen; a fresh associative
    prior and a fresh unconditional prior (a learned mixture) are trained on
    them for the same steps; the associative prior's test KL is far lower.
    """
    source, train, test = trained
    dataset = data.load("digits", "train", batch_size=32, repeat=True, view="binary")
    kls = {}
    for associative in (True, False):
        tf.keras.utils.set_random_seed(1)
        model = ACN(**{**TRAINED, "associative": associative}).build_example()
        for name in ("encoder", "latent_map", "decoder"):
            part = getattr(model, name)
            part.set_weights(getattr(source, name).get_weights())
            part.trainable = False
        model.refresh_code_index(train)
        model.compile(tf.keras.optimizers.Adam(1e-2))
        model.fit(dataset, steps_per_epoch=150, epochs=1, verbose=0)
        kls[associative] = _mean_costs(model, test)[0]
    # Measured: associative 0.33, unconditional 6.9 nats.
    assert kls[True] < 0.5 * kls[False]


def test_daydream_chains_are_seeded_and_re_encode_each_step():
    model = goldens.build("acn")
    model.refresh_code_index(model.example_features(20, seed=3)["image"].numpy())
    start = model.example_features(3, seed=5)["image"]
    images, codes = model.daydream(start, steps=3, seed=7)
    assert images.shape == (3, 3, 8, 8, 1) and codes.shape == (3, 3, 3)
    assert set(np.unique(images.numpy())) <= {0, 1}
    for t in range(3):  # each step's code is the encoding of that step's image
        np.testing.assert_allclose(codes[:, t], model.encode(images[:, t]), rtol=1e-5, atol=1e-6)
    again, _ = model.daydream(start, steps=3, seed=7)
    np.testing.assert_array_equal(again.numpy(), images.numpy())
    other, _ = model.daydream(start, steps=3, seed=8)
    assert np.any(other.numpy() != images.numpy())
    sampled, _ = model.sample(4, steps=2, seed=7)
    assert sampled.shape == (4, 2, 8, 8, 1)


def test_signatures_match_the_methods():
    model = goldens.build("acn")
    model.refresh_code_index(model.example_features(20, seed=3)["image"].numpy())
    signatures = model.signatures()
    image = model.example_features(3, seed=4)["image"]
    served = signatures["serving_default"](image=image)
    costs = model.coding_cost(image)
    for key in ("kl", "reconstruction", "neighbour", "code"):
        np.testing.assert_allclose(served[key].numpy(), costs[key].numpy(), rtol=1e-5)
    np.testing.assert_allclose(served["nats_upper_bound"].numpy(), costs["nats"].numpy(), rtol=1e-5)
    bound = signatures["log_prob"](
        image=image, num_samples=tf.constant(3), seed=tf.constant(2, tf.int64)
    )
    np.testing.assert_allclose(
        bound["elbo"].numpy(), model.log_prob(image, 3, 2).numpy(), rtol=1e-5
    )
    np.testing.assert_allclose(bound["nats_upper_bound"].numpy(), -bound["elbo"].numpy())
    np.testing.assert_allclose(
        bound["nats_upper_bound"].numpy(),
        np.mean([model.coding_cost(image, s)["nats"] for s in (2, 3, 4)], axis=0),
        rtol=1e-5,
    )


def test_errors():
    with pytest.raises(ValueError, match="num_neighbours: expected fewer than capacity=64"):
        ACN(**{**SMALL, "num_neighbours": 64})
    with pytest.raises(TypeError, match="associative: expected a bool"):
        ACN(**{**SMALL, "associative": 1})
    model = ACN(**SMALL)
    with pytest.raises(ValueError, match=r"image: expected shape \[batch, 8, 8, 1\]"):
        model.coding_cost(tf.zeros([2, 28, 28, 1], tf.int32))
    with pytest.raises(TypeError, match="image: expected integer levels, got float32"):
        model.coding_cost(tf.zeros([2, 8, 8, 1]))
    with pytest.raises(ValueError, match=r"rank: expected an int in \[0, 3\), got 3"):
        model.coding_cost(tf.zeros([2, 8, 8, 1], tf.int32), rank=3)
    with pytest.raises(ValueError, match="images: expected at most num_train_examples=64"):
        model.refresh_code_index(np.zeros([65, 8, 8, 1], np.int32))
    with pytest.raises(ValueError, match="steps: expected an int >= 1, got 0"):
        model.daydream(tf.zeros([1, 8, 8, 1], tf.int32), steps=0)
