"""Conditional Gated PixelCNN (1606.05328): structure, likelihood, sampling, training."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from tests.conformance import goldens
from tests.layers.xla_copies import copies_of
from tfgen import noise, registry
from tfgen.layers import MaskedConv2D
from tfgen.models.pixelcnn import PixelCNN

SMALL = dict(
    image_shape=(8, 8, 1),
    num_levels=2,
    num_labels=10,
    num_layers=3,
    filters=8,
    kernel_size=3,
    first_kernel_size=3,
    output_filters=16,
)


def _gradient_support(fn, x, i, j):
    """Boolean [H, W]: input pixels with a non-zero gradient of output (i, j)."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = fn(x)[0, i, j]
        target = tf.reduce_sum(logits * tf.random.stateless_normal(logits.shape, [5, 6]))
    return np.any(tape.gradient(target, x)[0].numpy() != 0, axis=-1)


def _raster_at_or_after(shape, i, j):
    height, width = shape
    return np.arange(height * width).reshape(height, width) >= i * width + j


# (a) autoregressive property -------------------------------------------------
@pytest.mark.parametrize("i,j", [(0, 0), (0, 7), (3, 0), (3, 4), (4, 7), (7, 0), (7, 7)])
def test_autoregressive_gradients(i, j):
    model = PixelCNN(**SMALL)
    x = tf.random.stateless_uniform([1, 8, 8, 1], [0, 1], -1, 1)
    h = tf.one_hot([3], 10)
    support = _gradient_support(lambda t: model.network(t, h), x, i, j)
    assert not support[_raster_at_or_after((8, 8), i, j)].any()
    if (i, j) != (0, 0):
        assert support.any()


def test_autoregressive_with_spatial_conditioning():
    model = PixelCNN(**{**SMALL, "spatial_shape": (4, 4, 2)})
    model(model.example_features(1))
    x = tf.random.stateless_uniform([1, 8, 8, 1], [0, 1], -1, 1)
    h = tf.one_hot([3], 10)
    s = model.upsampler(tf.random.stateless_normal([1, 4, 4, 2], [1, 1]))
    for i, j in [(2, 5), (6, 1)]:
        support = _gradient_support(lambda t: model.network(t, h, s), x, i, j)
        assert not support[_raster_at_or_after((8, 8), i, j)].any()


# (b) no blind spot -----------------------------------------------------------
def _plain_masked_pixelcnn(num_layers, filters, kernel_size):
    """The original PixelCNN (1601.06759): masked k x k convs, mask A then B."""
    layers = [MaskedConv2D(filters, kernel_size, "A")]
    layers += [MaskedConv2D(filters, kernel_size, "B") for _ in range(num_layers - 1)]
    head = MaskedConv2D(2, 1, "B")

    def network(x):
        for layer in layers:
            x = tf.nn.relu(layer(x))
        return head(x)

    return network


def test_no_blind_spot_unlike_masked_pixelcnn():
    num_layers, k, (i, j) = 4, 3, (6, 4)
    shape = (9, 9)
    model = PixelCNN(
        image_shape=(*shape, 1),
        num_levels=2,
        num_labels=0,
        num_layers=num_layers,
        filters=8,
        kernel_size=k,
        first_kernel_size=k,
        output_filters=8,
    )
    x = tf.random.stateless_uniform([1, *shape, 1], [0, 1], -1, 1)
    gated = _gradient_support(model.network, x, i, j)
    masked = _gradient_support(_plain_masked_pixelcnn(num_layers, 8, k), x, i, j)

    # Both are causal.
    assert not gated[_raster_at_or_after(shape, i, j)].any()
    assert not masked[_raster_at_or_after(shape, i, j)].any()

    # Receptive field of the gated model, r = num_layers * (k // 2): r + 1 rows
    # above (r from the vertical convolutions, 1 from the down shift), r columns
    # on both sides, and the r pixels to the left in the current row. All of it
    # is seen.
    r = k // 2 * num_layers
    field = np.zeros(shape, bool)
    field[max(0, i - r - 1) : i, max(0, j - r) : j + r + 1] = True
    field[i, max(0, j - r) : j] = True
    np.testing.assert_array_equal(gated, field)

    # The plain masked stack has the same nominal reach but misses pixels up
    # and to the right: its blind spot.
    assert not (masked & ~field).any()
    assert not masked[: i - r].any()
    blind = field & ~masked
    for pixel in [(i - 1, j + 2), (i - 1, j + 3), (i - 2, j + 4)]:
        assert blind[pixel], pixel
        assert gated[pixel], pixel
    assert blind.sum() >= 6


# Likelihood: NumPy reference, losses, config -----------------------------------
def _numpy_log_prob(logits, image):
    logits = np.asarray(logits, np.float64)
    log_norm = np.log(np.sum(np.exp(logits - logits.max(-1, keepdims=True)), -1))
    log_softmax = logits - logits.max(-1, keepdims=True) - log_norm[..., None]
    picked = np.take_along_axis(log_softmax, np.asarray(image)[..., None], axis=-1)[..., 0]
    return picked.reshape(picked.shape[0], -1).sum(-1)


@pytest.mark.parametrize("num_levels,num_labels", [(2, 10), (17, 0)])
def test_log_prob_matches_numpy(num_levels, num_labels):
    model = PixelCNN(**{**SMALL, "num_levels": num_levels, "num_labels": num_labels})
    features = model.example_features(3, seed=1)
    logits = model(features).numpy()
    assert logits.shape == (3, 8, 8, 1, num_levels)
    expected = _numpy_log_prob(logits, features["image"].numpy())
    np.testing.assert_allclose(model.log_prob(features).numpy(), expected, rtol=1e-5)
    loss, metrics = model.compute_losses(features)
    dims = 8 * 8
    np.testing.assert_allclose(metrics["nats_per_example"].numpy(), -expected, rtol=1e-5)
    np.testing.assert_allclose(
        metrics["bits_per_dim"].numpy(), -expected / dims / math.log(2), rtol=1e-5
    )
    np.testing.assert_allclose(loss.numpy(), np.mean(-expected) / dims, rtol=1e-5)
    # An untrained model is close to uniform: about log2(K) bits per dim.
    assert abs(np.mean(metrics["bits_per_dim"]) - math.log2(num_levels)) < 0.5


def test_log_prob_accepts_image_and_labels():
    model = PixelCNN(**SMALL)
    features = model.example_features(2)
    np.testing.assert_allclose(
        model.log_prob(features["image"], labels=features["label"]),
        model.log_prob(features),
        rtol=1e-6,
    )


def test_get_config_round_trip():
    model = PixelCNN(**{**SMALL, "spatial_shape": (4, 4, 2)})
    features = model.example_features(2)
    model(features)
    config = json.loads(json.dumps(model.get_config()))  # tuples become lists
    clone = PixelCNN.from_config(config)
    clone(features)
    clone.set_weights(model.get_weights())
    assert clone.get_config() == model.get_config()
    np.testing.assert_allclose(clone(features), model(features), rtol=1e-6)


def test_registered():
    entry = registry.get("pixelcnn")
    assert entry.model_class is PixelCNN
    assert entry.signatures == ("serving_default", "log_prob", "sample")
    model = PixelCNN(**{**goldens.GOLDENS["pixelcnn"].hparams, "image_shape": (8, 8, 1)})
    assert model(model.example_features(1)).shape == (1, 8, 8, 1, 2)


def test_registry_defaults_fit_binarised_mnist():
    """The registry's model is for 28x28 binarised MNIST digits in 10 classes, and its
    receptive field lets the middle pixel of the image see every pixel before it."""
    model = registry.build("pixelcnn")
    config = model.get_config()
    assert tuple(config["image_shape"]) == (28, 28, 1)
    assert (config["num_levels"], config["num_labels"]) == (2, 10)
    # 1606.05328 Fig. 2: the vertical stack grows by n//2 rows and n//2 columns either side per
    # layer (first_kernel_size//2 in the first), the down shift adds a row; the horizontal stack
    # grows by n//2 columns to the left.
    reach = config["first_kernel_size"] // 2 + (config["num_layers"] - 1) * (
        config["kernel_size"] // 2
    )
    x = tf.random.stateless_uniform([1, 28, 28, 1], [0, 1], -1, 1)
    h = tf.one_hot([3], 10)
    i, j = 27, 27
    field = np.zeros((28, 28), bool)
    field[i - reach - 1 : i, j - reach : j + reach + 1] = True
    field[i, j - reach : j] = True
    np.testing.assert_array_equal(_gradient_support(lambda t: model.network(t, h), x, i, j), field)
    # The middle pixel (14, 14) sees the whole image before it in raster order.
    middle = _gradient_support(lambda t: model.network(t, h), x, 14, 14)
    np.testing.assert_array_equal(middle, ~_raster_at_or_after((28, 28), 14, 14))


def test_bad_arguments():
    with pytest.raises(ValueError, match="expected a single channel"):
        PixelCNN(image_shape=(8, 8, 3))
    with pytest.raises(ValueError, match="num_levels: expected an int >= 2, got 1"):
        PixelCNN(num_levels=1)
    model = PixelCNN(**SMALL)
    with pytest.raises(ValueError, match=r"image: expected shape \[batch, 8, 8, 1\]"):
        model({"image": tf.zeros([2, 7, 8, 1], tf.int32), "label": tf.zeros([2], tf.int32)})
    with pytest.raises(ValueError, match="expected a 'label' key"):
        model({"image": tf.zeros([2, 8, 8, 1], tf.int32)})
    with pytest.raises(ValueError, match="labels: expected int labels"):
        model.sample(2, seed=0)


# (c) sampling ------------------------------------------------------------------
@pytest.mark.parametrize(
    "hparams,batch,xla",
    [
        ({**SMALL, "num_levels": 4, "first_kernel_size": 5}, 1, True),  # class-conditional
        ({**SMALL, "image_shape": (5, 7, 1), "kernel_size": 5, "first_kernel_size": 7}, 3, False),
        ({**SMALL, "image_shape": (6, 6, 1), "spatial_shape": (3, 2, 2)}, 2, False),
        (
            {**SMALL, "image_shape": (3, 9, 1), "num_levels": 3, "num_labels": 0, "kernel_size": 1},
            2,
            False,
        ),
    ],
)
def test_fast_sampling_equals_naive_sampling(hparams, batch, xla):
    """1704.06001: the cached sampler draws exactly the naive sampler's images."""
    model = PixelCNN(**hparams)
    model.build_example()
    height, width, _ = hparams["image_shape"]
    h = tf.one_hot(tf.range(batch) % 10, 10) if hparams["num_labels"] else None
    spatial = hparams.get("spatial_shape")
    spatial = tf.random.stateless_normal([batch, *spatial], [2, 3]) if spatial else None
    uniform = noise.uniform_from_seed([batch, height, width, 1], 5)
    temperature = tf.constant(1.0)

    def sampler(method, jit_compile):
        function = tf.function(
            lambda *args: model.sample_given(*args, method=method), jit_compile=jit_compile
        )
        return function(h, spatial, uniform, temperature).numpy()

    naive = sampler("naive", False)
    assert len(np.unique(naive)) > 1
    np.testing.assert_array_equal(sampler("fast", xla), naive)


def test_sample_methods_give_the_same_images_for_a_seed():
    model = PixelCNN(**{**SMALL, "image_shape": (4, 7, 1)})
    labels = [4, 9]
    fast = model.sample(labels=labels, seed=11).numpy()  # The default: fast, under XLA.
    np.testing.assert_array_equal(
        model.sample(labels=labels, seed=11, method="naive", jit_compile=False), fast
    )
    with pytest.raises(ValueError, match="method: expected one of"):
        model.sample(labels=labels, seed=11, method="cached")


def test_fast_sampling_updates_its_caches_in_place_under_xla():
    model = PixelCNN(**{**SMALL, "image_shape": (6, 9, 1), "first_kernel_size": 5})
    model.build_example()
    batch, height, width = 3, 6, 9
    loop = model._loop(True, "fast")
    args = (tf.one_hot([1, 2, 3], 10), None, tf.fill([batch, height, width, 1], 0.5), 1.0)
    # Per-layer caches: vertical rings [k//2 + 1, N, W + 2 (k//2), c] and horizontal rows
    # [W + k//2, N, c]; the current row [W, N]. (The image [H, W, N] is transposed to
    # [N, H, W, 1] once, at the end: a copy, but not per step.)
    shapes = [(3, batch, width + 4, 1), (2, batch, width + 2, 8), (width + 2, batch, 1)]
    shapes += [(width + 1, batch, 8), (width, batch)]
    assert not copies_of(loop, args, shapes)


def test_sample_without_xla_runs_a_graph_traced_once(monkeypatch):
    """`sample(jit_compile=False)` runs the tf.function graph loop, never op by op."""
    model = PixelCNN(**{**SMALL, "image_shape": (4, 5, 1)})
    traces = []
    fast_loop = model._fast_loop
    monkeypatch.setattr(model, "_fast_loop", lambda *args: traces.append(1) or fast_loop(*args))
    images = [model.sample(labels=[1, 2], seed=seed, jit_compile=False) for seed in range(3)]
    assert len(traces) == 1
    assert not np.array_equal(images[0], images[1])


def test_sampling_seeds_labels_and_jit():
    model = PixelCNN(**{**SMALL, "num_levels": 4})
    labels = [0, 0, 0, 0]
    a = model.sample(labels=labels, seed=7).numpy()
    assert a.shape == (4, 8, 8, 1) and a.dtype == np.int32
    assert a.min() >= 0 and a.max() < 4 and len(np.unique(a)) > 1
    np.testing.assert_array_equal(model.sample(labels=labels, seed=7), a)
    assert not np.array_equal(model.sample(labels=labels, seed=8), a)
    assert not np.array_equal(model.sample(labels=[5, 5, 5, 5], seed=7), a)
    np.testing.assert_array_equal(model.sample(labels=labels, seed=7, jit_compile=False), a)
    # Temperature -> 0 picks the mode of every conditional.
    greedy = model.sample(labels=labels, seed=1, temperature=1e-4).numpy()
    logits = model({"image": greedy, "label": tf.constant(labels)}).numpy()
    np.testing.assert_array_equal(greedy, logits.argmax(-1))


def test_samples_follow_the_model_conditionals():
    # Each sampled pixel's conditional, recomputed by a full forward pass on the
    # finished image, must give it non-negligible probability.
    model = PixelCNN(**{**SMALL, "num_levels": 3, "num_labels": 0})
    images = model.sample(64, seed=3)
    log_probs = tf.nn.log_softmax(model({"image": images}))
    picked = np.take_along_axis(log_probs.numpy(), images.numpy()[..., None], -1)
    assert picked.min() > -12
    # Empirical frequency of the first pixel matches its (image-independent) softmax.
    p0 = tf.nn.softmax(model({"image": images})[0, 0, 0, 0]).numpy()
    freq = np.bincount(images.numpy()[:, 0, 0, 0], minlength=3) / 64
    assert np.abs(freq - p0).max() < 0.25


def test_spatial_conditioning_changes_log_prob_and_samples():
    model = PixelCNN(**{**SMALL, "spatial_shape": (4, 4, 2)})
    features = model.example_features(2)
    other = dict(features, spatial=features["spatial"] + 1.0)
    assert not np.allclose(model.log_prob(features), model.log_prob(other))
    a = model.sample(labels=features["label"], spatial=features["spatial"], seed=0)
    b = model.sample(labels=features["label"], spatial=other["spatial"] * 3.0, seed=0)
    assert a.shape == (2, 8, 8, 1) and not np.array_equal(a, b)
    np.testing.assert_array_equal(
        model.sample(
            labels=features["label"], spatial=features["spatial"], seed=0, jit_compile=False
        ),
        a,
    )


@pytest.mark.parametrize(
    "hparams", [SMALL, {**SMALL, "num_labels": 0}, {**SMALL, "spatial_shape": (4, 4, 2)}]
)
def test_signatures(hparams, tmp_path):
    model = PixelCNN(**hparams)
    signatures = model.signatures()
    assert set(signatures) == {"serving_default", "log_prob", "sample"}
    features = model.example_features(3)
    inputs = {name: goldens.signature_inputs(model, fn, 3) for name, fn in signatures.items()}
    expected_keys = (
        {"image"}
        | ({"label"} if hparams["num_labels"] else set())
        | ({"spatial"} if hparams.get("spatial_shape") else set())
    )
    assert set(inputs["log_prob"]) == expected_keys
    out = signatures["log_prob"](**inputs["log_prob"])
    assert set(out) == {"log_prob", "bits_per_dim"}
    np.testing.assert_allclose(out["log_prob"], model.log_prob(features), rtol=1e-5)
    np.testing.assert_allclose(
        out["bits_per_dim"], -out["log_prob"] / (64 * math.log(2)), rtol=1e-6
    )
    sample_keys = (expected_keys - {"image"}) or {"num_samples"}
    assert set(inputs["sample"]) == sample_keys | {"seed", "temperature"}
    image = signatures["sample"](**inputs["sample"])["image"]
    assert image.dtype == tf.int32 and image.shape == (3, 8, 8, 1)
    jit_image = model.signatures(jit_compile=True)["sample"](**inputs["sample"])["image"]
    np.testing.assert_array_equal(jit_image, image)
    whole = tf.function(signatures["sample"].python_function, jit_compile=True)
    np.testing.assert_array_equal(whole(**inputs["sample"])["image"], image)

    tf.saved_model.save(model, str(tmp_path), signatures=signatures)
    loaded = tf.saved_model.load(str(tmp_path))
    np.testing.assert_allclose(
        loaded.signatures["serving_default"](**inputs["serving_default"])["log_prob"],
        out["log_prob"],
        rtol=1e-5,
    )
    np.testing.assert_array_equal(loaded.signatures["sample"](**inputs["sample"])["image"], image)


# (d) training ------------------------------------------------------------------
def test_training_beats_independent_pixel_baseline():
    from tfgen import data

    info = data.info("digits", view="binary")
    train = data.load(
        "digits", "train", batch_size=32, shuffle=True, repeat=True, seed=0, view="binary"
    )
    test = data.load("digits", "test", batch_size=360, view="binary")
    train_images = np.concatenate(
        [b["image"].numpy() for b in data.load("digits", "train", batch_size=512, view="binary")]
    )
    test_batch = next(iter(test))
    test_images = test_batch["image"].numpy()

    # Independent-pixel baseline: per-pixel Bernoulli, Laplace smoothing.
    p1 = (train_images.sum(0) + 1.0) / (len(train_images) + 2.0)
    ll = test_images * np.log(p1) + (1 - test_images) * np.log(1 - p1)
    baseline_bpd = -ll.sum(axis=(1, 2, 3)).mean() / (64 * math.log(2))

    model = PixelCNN(
        image_shape=info.image_shape,
        num_levels=info.num_levels,
        num_labels=info.num_labels,
        num_layers=4,
        filters=16,
        kernel_size=3,
        first_kernel_size=5,
        output_filters=32,
    )
    model.compile(tf.keras.optimizers.Adam(3e-3))
    history = model.fit(train, steps_per_epoch=100, epochs=3, verbose=0)
    result = model.evaluate(test, verbose=0, return_dict=True)
    print(
        f"digits binary test bits/dim: gated PixelCNN {result['bits_per_dim']:.4f}, "
        f"independent-pixel baseline {baseline_bpd:.4f}; train loss "
        f"{history.history['bits_per_dim'][0]:.4f} -> {history.history['bits_per_dim'][-1]:.4f}"
    )
    assert result["bits_per_dim"] < baseline_bpd - 0.05
    # The class label is used: the true labels explain the test set better than shuffled ones.
    true = model.log_prob(test_batch).numpy().mean()
    wrong = model.log_prob(dict(test_batch, label=(test_batch["label"] + 1) % 10)).numpy().mean()
    assert true > wrong
