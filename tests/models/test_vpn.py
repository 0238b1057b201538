"""Video Pixel Network (1610.00527): the 4-D dependency chain, cached sampling, losses, training."""

import numpy as np
import pytest
import tensorflow as tf

from tfgen import data, noise
from tfgen.models import VideoPixelNetwork
from tfgen.models.vpn import grey_entropy

TINY = {
    "conditioning_frames": 1,
    "filters": 6,
    "first_kernel_size": 3,
    "encoder_dilation_rates": [1, 2],
    "lstm_filters": 4,
    "decoder_layers": 1,
}


def _model(frame_shape=(6, 4, 3), likelihood="sigmoid", **kwargs):
    model = VideoPixelNetwork(
        frame_shape=frame_shape, likelihood=likelihood, num_levels=4, **{**TINY, **kwargs}
    )
    model.build_example()
    rng = np.random.default_rng(0)
    for weight in model.trainable_weights:  # Large weights: no dependence hides in a flat unit.
        weight.assign(rng.normal(scale=0.6, size=weight.shape))
    return model


def _video(model, frames, seed=0):
    shape = (2, frames, *model.frame_shape)
    return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


@pytest.mark.parametrize("likelihood", ["sigmoid", "softmax"])
def test_four_dimensional_dependency_chain(likelihood, monkeypatch):
    """Eq. 1-2: x_{t,i,j,c} depends on earlier frames, earlier pixels and earlier channels only."""
    model = _model(likelihood=likelihood)
    # The softmax model reads quantised levels, whose gradient is zero: read floats instead.
    monkeypatch.setattr(model, "_network_input", lambda video: 2.0 * video - 1.0)
    video = tf.constant(_video(model, 3))
    height, width, channels = model.frame_shape
    for t, i, j, c in [(0, 2, 1, 0), (0, 3, 3, 2), (1, 5, 0, 1), (1, 0, 2, 2)]:
        frame = model.conditioning_frames + t
        with tf.GradientTape() as tape:
            tape.watch(video)
            logits = model({"video": video})[0, t, i, j, c]
            target = tf.reduce_sum(logits * tf.range(1.0, 1.0 + logits.shape[-1]))
        seen = tape.gradient(target, video)[0].numpy() != 0
        later = np.zeros_like(seen)
        later[frame + 1 :] = True
        later[frame, i + 1 :] = True
        later[frame, i, j + 1 :] = True
        later[frame, i, j, c:] = True
        assert not seen[later].any(), f"x[{frame},{i},{j},{c}] sees a later value"
        assert seen[:frame].any(), "no dependence on the past frames"
        assert seen[frame, i, j, :c].all(), "no dependence on the earlier channels"
        if j > 0:
            assert seen[frame, i, j - 1].all(), "no dependence on the pixel to the left"


def test_frame_independent_baseline_ignores_the_past():
    model = _model(temporal_context=False)
    assert not hasattr(model, "conv_lstm")
    video = tf.constant(_video(model, 3))
    with tf.GradientTape() as tape:
        tape.watch(video)
        logits = model({"video": video})[:, 1]
    gradient = tape.gradient(logits, video).numpy()
    assert not gradient[:, :2].any() and gradient[:, 2].any()


def _naive_sample(model, given, uniform, temperature):
    """Raster-order sampling that reruns the full model on the whole video for every value."""
    video = np.concatenate([given, np.zeros_like(uniform)], axis=1)
    start = given.shape[1]
    height, width, channels = model.frame_shape
    full_model = tf.function(lambda window: model({"video": window}))  # one trace per length
    for t in range(uniform.shape[1]):
        for i in range(height):
            for j in range(width):
                for c in range(channels):
                    window = video[:, start - model.conditioning_frames : start + t + 1]
                    logits = full_model(tf.constant(window)).numpy()[:, -1, i, j, c]
                    u = uniform[:, t, i, j, c]
                    if model.likelihood == "sigmoid":
                        value = (u < 1.0 / (1.0 + np.exp(-logits[:, 0] / temperature))) * 1.0
                    else:
                        probs = np.exp(
                            logits / temperature - (logits / temperature).max(-1)[:, None]
                        )
                        cdf = np.cumsum(probs, -1) / probs.sum(-1)[:, None]
                        value = (cdf <= u[:, None]).sum(-1) / (model.num_levels - 1)
                    video[:, start + t, i, j, c] = value
    return video[:, start:]


@pytest.mark.parametrize(
    "likelihood, frame_shape", [("sigmoid", (6, 3, 1)), ("softmax", (5, 3, 3))]
)
def test_cached_sampling_equals_naive_sampling(likelihood, frame_shape):
    """The frame-level cache and the row strip give exactly the full model's distribution."""
    model = _model(frame_shape, likelihood)
    assert model.receptive_rows + 1 < frame_shape[0]  # The strip is smaller than the frame.
    given = _video(model, 1, seed=3)
    if likelihood == "softmax":
        given = np.round(given * 3) / 3
    seed, temperature = 11, 0.8
    uniform = noise.uniform_from_seed([2, 2, *frame_shape], seed).numpy()
    expected = _naive_sample(model, given, uniform, temperature)
    for jit_compile in (False, True):
        sample = model.sample(given, 2, seed=seed, temperature=temperature, jit_compile=jit_compile)
        np.testing.assert_array_equal(sample.numpy(), expected)


@pytest.mark.parametrize("temporal_context", [True, False])
def test_strip_decoding_gives_the_full_frame_logits(temporal_context):
    model = _model((7, 3, 1), temporal_context=temporal_context)
    video = tf.constant(_video(model, 2, seed=4))
    expected = model({"video": video})[:, 0]
    context = model.contexts(video)
    terms = model.context_terms(None if context is None else context[:, 0])
    for row in range(7):
        actual = model.row_logits(video[:, 1], terms, row)
        np.testing.assert_allclose(actual, expected[:, row], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("likelihood", ["sigmoid", "softmax"])
def test_losses_match_numpy(likelihood):
    model = _model(likelihood=likelihood)
    video = _video(model, 4, seed=5)
    logits = model({"video": video}).numpy().astype(np.float64)
    targets = video[:, 1:].astype(np.float64)
    if likelihood == "sigmoid":
        # Sigmoid cross-entropy with grey-level targets (Sec. 5.1).
        p = 1.0 / (1.0 + np.exp(-logits[..., 0]))
        nats = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
        entropy = -(targets * np.log(targets) + (1 - targets) * np.log(1 - targets))
        bound = entropy.sum(axis=(2, 3, 4)).mean(axis=1)
    else:
        levels = np.round(targets * 3).astype(int)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        nats = -np.take_along_axis(log_probs, levels[..., None], -1)[..., 0]
        bound = np.zeros(2)
    per_frame = nats.sum(axis=(2, 3, 4))
    loss, metrics = model.compute_losses({"video": video})
    np.testing.assert_allclose(metrics["nats_per_frame"], per_frame.mean(1), rtol=1e-5)
    np.testing.assert_allclose(metrics["bound_nats_per_frame"], bound, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.log_prob({"video": video}), -per_frame.sum(1), rtol=1e-5)
    np.testing.assert_allclose(loss, per_frame.mean() / model.frame_dims, rtol=1e-5)
    assert (metrics["nats_per_frame"] >= metrics["bound_nats_per_frame"]).numpy().all()


def test_grey_entropy_is_zero_at_black_and_white():
    np.testing.assert_allclose(grey_entropy([0.0, 1.0, 0.5]), [0.0, 0.0, np.log(2.0)], atol=1e-7)


def test_training_beats_independent_pixels():
    """A short fit takes the test cross-entropy below a per-position independent-pixel model."""
    options = {"frame_size": 29, "num_frames": 3, "num_digits": 1}
    train = data.load("moving_digits", "train", batch_size=8, seed=0, **options)
    test = next(iter(data.load("moving_digits", "test", batch_size=32, seed=1, **options)))
    clips = next(iter(data.load("moving_digits", "train", batch_size=256, seed=2, **options)))
    mean = np.clip(clips["video"].numpy().mean(axis=(0, 1)), 1e-4, 1 - 1e-4)
    targets = test["video"].numpy()[:, 2:]
    independent = -(targets * np.log(mean) + (1 - targets) * np.log(1 - mean))
    independent = independent.sum(axis=(2, 3, 4)).mean()

    tf.keras.utils.set_random_seed(0)
    model = VideoPixelNetwork(
        frame_shape=(29, 29, 1),
        **{**TINY, "conditioning_frames": 2, "filters": 8, "encoder_dilation_rates": [1, 2, 4]},
    )
    # The legacy Adam's one fused update op per variable traces in half the time.
    model.compile(tf.keras.optimizers.legacy.Adam(3e-3))
    before = model.evaluate(test, verbose=0, return_dict=True)["nats_per_frame"]
    model.fit(train, steps_per_epoch=80, epochs=1, verbose=0)
    after = model.evaluate(test, verbose=0, return_dict=True)
    assert after["nats_per_frame"] < min(before, independent)
    assert after["nats_per_frame"] > after["bound_nats_per_frame"]


@pytest.mark.parametrize("temporal_context", [True, False])
def test_build_example_makes_the_variables_of_a_call(temporal_context):
    """The graph-only build creates what a call on example videos creates, with the same values."""
    kwargs = dict(frame_shape=(6, 4, 3), likelihood="softmax", num_levels=4, **TINY)
    models = []
    for build in (VideoPixelNetwork.build_example, lambda m: m(m.example_features(1))):
        tf.keras.utils.set_random_seed(1)
        model = VideoPixelNetwork(temporal_context=temporal_context, **kwargs)
        build(model)
        models.append(model)
    built, called = models
    assert built.built
    assert [w.name.replace(f"{built.name}/", "") for w in built.weights] == [
        w.name.replace(f"{called.name}/", "") for w in called.weights
    ]
    for built_weight, called_weight in zip(built.weights, called.weights):
        np.testing.assert_array_equal(built_weight.numpy(), called_weight.numpy())
    assert built.count_params() == called.count_params() > 0


def test_errors():
    model = _model()
    with pytest.raises(ValueError, match="expected more than conditioning_frames=1"):
        model({"video": _video(model, 1)})
    with pytest.raises(ValueError, match="expected shape \\[batch, time, 6, 4, 3\\]"):
        model({"video": np.zeros([2, 3, 6, 4, 1], np.float32)})
    with pytest.raises(TypeError, match="expected float32"):
        model({"video": np.zeros([2, 3, 6, 4, 3], np.int32)})
    with pytest.raises(ValueError, match="likelihood: expected one of"):
        VideoPixelNetwork(likelihood="gaussian")
    with pytest.raises(ValueError, match="temperature: expected a positive float"):
        model.sample(_video(model, 1), 1, temperature=0.0)
    with pytest.raises(ValueError, match="num_frames: expected an int >= 1"):
        model.sample(_video(model, 1), 0)
    with pytest.raises(ValueError, match="at least one given frame"):
        model.sample(np.zeros([2, 0, 6, 4, 3], np.float32), 1)
