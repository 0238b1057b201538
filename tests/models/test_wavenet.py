"""WaveNet (1609.03499) with fast generation (1611.09482): structure, likelihood, sampling."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import log_softmax

from tfgen import data, noise, registry
from tfgen.layers.wavenet_generation import WaveNetGenerator
from tfgen.models.wavenet import WaveNet, categorical_from_uniform

SMALL = dict(
    num_stacks=2,
    layers_per_stack=3,
    residual_channels=8,
    skip_channels=16,
    num_speakers=3,
    local_conditioning=True,
    num_mels=4,
    hop_length=16,
    conditioning_channels=4,
    clip_length=64,
)


def _model(**overrides):
    model = WaveNet(**{**SMALL, **overrides})
    model(model.example_features(1))
    return model


def test_registered_defaults():
    entry = registry.get("wavenet")
    assert entry.dataset == "audio"
    assert entry.signatures == ("serving_default", "log_prob", "generate")
    model = registry.build("wavenet")
    assert model.stack.dilations == [2**i for i in range(10)] * 2
    assert (model.num_speakers, model.hop_length, model.clip_length) == (4, 256, 8192)


@pytest.mark.parametrize("output", ["softmax", "logistic_mixture"])
def test_causal_by_gradient_through_the_conditioned_model(output):
    """Outputs at t do not depend on the inputs at times >= t (the gradient is zero)."""
    model = _model(output=output)
    features = model.example_features(1)
    channels = 256 if output == "softmax" else 1
    x = tf.random.stateless_normal([1, 64, channels], [0, 1])
    h = model._speaker(features["speaker"])
    y = model.upsampler(features["mel"])
    for t in (0, 10, 63):
        with tf.GradientTape() as tape:
            tape.watch(x)
            params = model.stack(x, global_condition=h, local_condition=y)[0, t]
            out = tf.reduce_sum(params * tf.random.stateless_normal(params.shape, [2, t]))
        support = np.any(tape.gradient(out, x)[0].numpy() != 0, -1)
        assert not support[t:].any()
        assert support[:t].any() == (t > 0)


def test_log_prob_matches_numpy_softmax():
    model = _model()
    features = model.example_features(2)
    logits = model(features).numpy().astype(np.float64)
    codes = features["audio"].numpy()
    expected = np.take_along_axis(log_softmax(logits, -1), codes[..., None], -1)[..., 0].sum(1)
    np.testing.assert_allclose(model.log_prob(features).numpy(), expected, rtol=1e-5)
    loss, metrics = model.compute_losses(features)
    np.testing.assert_allclose(
        metrics["bits_per_sample"], -expected / (64 * math.log(2)), rtol=1e-5
    )
    np.testing.assert_allclose(loss, -expected.mean() / 64, rtol=1e-5)


def test_mixture_head_log_prob_is_normalised():
    """Summing p(x_0 = v) over the 256 codes gives 1 (edge bins included)."""
    model = _model(output="logistic_mixture", num_components=3)
    features = model.example_features(1)
    audio = tf.tile(features["audio"], [256, 1])
    audio = tf.concat([tf.range(256)[:, None], audio[:, 1:]], axis=1)
    repeat = {k: tf.repeat(v, 256, axis=0) for k, v in features.items() if k != "audio"}
    per_step = model._log_probs(model({"audio": audio, **repeat}), audio)[:, 0]
    np.testing.assert_allclose(np.exp(per_step.numpy()).sum(), 1.0, rtol=1e-4)


@pytest.mark.parametrize(
    "output, conditioned, batch, filter_width",
    [
        ("softmax", True, 2, 2),
        ("softmax", True, 2, 3),
        ("logistic_mixture", True, 2, 2),
        ("logistic_mixture", False, 3, 3),
    ],
)
def test_fast_generation_equals_naive_generation(output, conditioned, batch, filter_width):
    """Same seed, same samples: XLA and plain-graph fast loops against naive generation."""
    if conditioned:  # A speaker id and log-mel frames.
        model = _model(output=output, filter_width=filter_width)
    else:
        model = _model(
            output=output, filter_width=filter_width, num_speakers=0, local_conditioning=False
        )
    features = model.example_features(batch)
    kwargs = dict(speaker=features["speaker"], mel=features.get("mel"), seed=11)
    fast_xla = model.sample(48, **kwargs).numpy()
    fast_graph = model.sample(48, jit_compile=False, **kwargs).numpy()
    naive = model.sample(48, jit_compile=False, method="naive", **kwargs).numpy()
    assert fast_xla.shape == (batch, 48) and fast_xla.dtype == np.int32
    np.testing.assert_array_equal(fast_xla, naive)
    np.testing.assert_array_equal(fast_graph, naive)
    other = model.sample(48, **{**kwargs, "seed": 12}).numpy()
    assert not np.array_equal(other, fast_xla)


def test_categorical_from_uniform_inverts_the_numpy_cdf():
    """The code is the first class whose CDF exceeds u (float64 NumPy reference)."""
    logits = tf.random.stateless_normal([512, 256], [0, 1]) * 3.0
    u = tf.random.stateless_uniform([512], [0, 2])
    probs = np.exp(log_softmax(logits.numpy().astype(np.float64), -1))
    expected = (np.cumsum(probs, -1) <= u.numpy()[:, None].astype(np.float64)).sum(-1)
    np.testing.assert_array_equal(categorical_from_uniform(logits, u).numpy(), expected)


@pytest.mark.parametrize("generation_dtype", ["float32", "bfloat16"])
def test_samples_follow_the_model_conditionals(generation_dtype):
    """Each generated sample is a likely code under the model's own conditional."""
    model = _model(local_conditioning=False, num_speakers=0)
    speaker = tf.zeros([64], tf.int32)
    codes = model.sample(32, speaker=speaker, seed=3, generation_dtype=generation_dtype).numpy()
    logits = model({"audio": codes}).numpy()
    chosen = np.take_along_axis(log_softmax(logits, -1), codes[..., None], -1)[..., 0]
    entropy = -(np.exp(log_softmax(logits, -1)) * log_softmax(logits, -1)).sum(-1)
    # E[-log p(sample)] = entropy for samples from the model.
    np.testing.assert_allclose(-chosen.mean(), entropy.mean(), rtol=0.02)
    low = model.sample(
        32, speaker=speaker, seed=3, temperature=0.3, generation_dtype=generation_dtype
    ).numpy()
    low_chosen = np.take_along_axis(
        log_softmax(model({"audio": low}).numpy(), -1), low[..., None], -1
    )
    assert low_chosen.mean() > chosen.mean()


def _draw(logits, u):
    """`categorical_from_uniform` of logits [B, T, 256] at u [B, T]."""
    return categorical_from_uniform(logits.reshape(-1, 256), u.ravel()).numpy().reshape(u.shape)


def _teacher_forced_logits(model, codes, speaker, mel, dtype):
    """Fast-generation logits [B, T, 256] in `dtype`, each step fed the code before it."""
    generator = WaveNetGenerator(model.stack, model._speaker(speaker), dtype)
    y = model.upsampler(mel)
    state, previous, logits = (
        generator.initial_state(codes.shape[0]),
        -tf.ones_like(codes[:, 0]),
        [],
    )
    for t in range(codes.shape[1]):
        output, state = generator.step(previous, state, t, y[:, t])
        logits.append(output)
        previous = codes[:, t]
    return tf.stack(logits, axis=1).numpy()


def test_bfloat16_generation_draws_the_float32_codes_but_for_near_ties():
    """bfloat16 fast generation against float32 naive generation, within bfloat16's rounding.

    Along float32 samples (= naive ones, above), the bfloat16 step's conditionals are
    within bfloat16 rounding of the float32 network's, and at the same uniform noise they
    draw the same code except where the noise lies within that rounding of a CDF step:
    free-running bfloat16 samples equal the float32 ones only until such a near tie.
    """
    model = _model()
    kernel = model.stack.output_projection.kernel
    kernel.assign(10.0 * kernel)  # Logits spread over ~6 nats, peaked as a trained model's.
    features = model.example_features(16)
    speaker, mel, steps = features["speaker"], features["mel"], 64
    codes = model.sample(steps, speaker=speaker, mel=mel, seed=7).numpy()
    u = noise.uniform_from_seed([steps, 2, 16], 7).numpy()[:, 0].T  # [B, T], as `sample` draws
    expected = log_softmax(model({"audio": codes, "speaker": speaker, "mel": mel}).numpy(), -1)
    float32 = _teacher_forced_logits(model, codes, speaker, mel, "float32")
    np.testing.assert_allclose(log_softmax(float32, -1), expected, atol=1e-4)
    np.testing.assert_array_equal(_draw(float32, u), codes)

    bfloat16 = log_softmax(_teacher_forced_logits(model, codes, speaker, mel, "bfloat16"), -1)
    # 8 significant bits: log-probability errors of a few 2^-8 of their range.
    assert np.abs(bfloat16 - expected).max() < 0.02 * np.ptp(expected, -1).max()
    cdf, cdf_bfloat16 = np.cumsum(np.exp(expected), -1), np.cumsum(np.exp(bfloat16), -1)
    distance = np.abs(cdf_bfloat16 - cdf).max(-1)  # Kolmogorov distance per step
    assert distance.max() < 0.005
    differ = _draw(bfloat16, u) != codes
    assert differ.mean() < 0.1
    # Where the draws differ, u is within the two CDFs' distance of a float32 CDF step.
    nearest_step = np.abs(cdf - u[..., None]).min(-1)
    assert np.all(nearest_step[differ] <= distance[differ] + 1e-5)


def test_generation_dtype_is_a_hyper_parameter_of_sample_and_generate():
    model = _model(generation_dtype="bfloat16")
    assert model.get_config()["generation_dtype"] == "bfloat16"
    features = model.example_features(2)
    kwargs = dict(speaker=features["speaker"], mel=features["mel"], seed=4)
    bfloat16 = model.sample(40, **kwargs).numpy()
    float32 = model.sample(40, generation_dtype="float32", **kwargs).numpy()
    default = _model()
    default.set_weights(model.get_weights())
    np.testing.assert_array_equal(float32, default.sample(40, **kwargs).numpy())
    out = model.signatures()["generate"](
        num_samples=tf.constant(40),
        speaker=features["speaker"],
        mel=features["mel"],
        temperature=tf.constant(1.0),
        seed=tf.constant(4, tf.int64),
    )
    np.testing.assert_array_equal(out["audio"].numpy(), bfloat16)
    with pytest.raises(ValueError, match="generation_dtype: expected 'float32' for method"):
        model.sample(4, method="naive", jit_compile=False, **kwargs)
    with pytest.raises(ValueError, match="generation_dtype: expected one of"):
        WaveNet(generation_dtype="float16")


def test_generate_signature(tmp_path):
    model = _model()
    signatures = model.signatures()
    assert set(signatures) == {"serving_default", "log_prob", "generate"}
    generate = signatures["generate"]
    names = {spec.name for spec in generate.input_signature}
    assert names == {"num_samples", "speaker", "mel", "temperature", "seed"}
    mel = model.example_features(3)["mel"]
    args = dict(
        num_samples=tf.constant(40),
        speaker=tf.constant([0, 1, 2]),
        mel=mel,
        temperature=tf.constant(1.0),
        seed=tf.constant(5, tf.int64),
    )
    out = generate(**args)
    assert out["audio"].shape == [3, 40] and out["waveform"].shape == [3, 40]
    direct = model.sample(40, speaker=[0, 1, 2], mel=mel, seed=5).numpy()
    np.testing.assert_array_equal(out["audio"].numpy(), direct)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_samples"):
        generate(**{**args, "num_samples": tf.constant(65)})
    density = signatures["log_prob"](**{k: v for k, v in model.example_features(2).items()})
    assert density["log_prob"].shape == [2]


def test_config_round_trip_and_bad_arguments():
    model = _model(output="logistic_mixture")
    config = json.loads(json.dumps(model.get_config()))
    assert WaveNet.from_config(config).get_config() == model.get_config()
    with pytest.raises(ValueError, match="output: expected one of"):
        WaveNet(output="gaussian")
    with pytest.raises(ValueError, match="clip_length: expected a multiple of hop_length"):
        WaveNet(**{**SMALL, "clip_length": 70})
    with pytest.raises(ValueError, match="speaker: expected int ids"):
        model.log_prob({"audio": tf.zeros([1, 64], tf.int32), "mel": tf.zeros([1, 4, 4])})
    with pytest.raises(TypeError, match="audio: expected integer mu-law codes"):
        model.log_prob({"audio": tf.zeros([1, 64]), "speaker": [0], "mel": tf.zeros([1, 4, 4])})
    with pytest.raises(ValueError, match="method: expected 'fast' or 'naive'"):
        model.sample(4, speaker=[0], mel=tf.zeros([1, 4, 4]), method="slow")


def test_training_beats_the_mu_law_marginal_baseline():
    options = dict(clip_length=512, hop_length=128, frame_length=256, num_mels=8)
    train = data.load("audio", "train", batch_size=16, repeat=True, **options)
    test = next(iter(data.load("audio", "test", batch_size=128, **options)))
    train_codes = np.concatenate([b["audio"].numpy().ravel() for b in train.take(32)])
    counts = np.bincount(train_codes, minlength=256) + 1.0
    marginal = np.log(counts / counts.sum())
    baseline = -marginal[test["audio"].numpy()].mean()  # nats per sample, unigram model
    model = WaveNet(
        num_stacks=1,
        layers_per_stack=6,
        residual_channels=16,
        skip_channels=32,
        num_speakers=4,
        num_mels=8,
        hop_length=128,
        clip_length=512,
    )
    model.compile(tf.keras.optimizers.Adam(3e-3))
    model.fit(train, steps_per_epoch=150, epochs=1, verbose=0)
    nll = -model.log_prob(test).numpy().mean() / 512
    assert nll < baseline - 1.0, (nll, baseline)
