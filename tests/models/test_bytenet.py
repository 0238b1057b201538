"""ByteNet (1610.10099): causality, likelihood, fast generation, dynamic unfolding, training."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import log_softmax

from tfgen import data, registry
from tfgen.data.parallel_text import END, PAD
from tfgen.models.bytenet import ByteNetLM, ByteNetTranslator

TINY = dict(hidden_units=6, dilation_rates=(1, 2, 4), num_sets=1)


def _lm(**overrides):
    tf.keras.utils.set_random_seed(0)
    return ByteNetLM(**{**TINY, "seq_len": 16, **overrides}).build_example()


def _translator(**overrides):
    # Seeded: at d = 6 some initial weights leave no path from the source to the first byte.
    tf.keras.utils.set_random_seed(0)
    return ByteNetTranslator(
        **{**TINY, "source_len": 10, "target_len": 13, **overrides}
    ).build_example()


def _shift(embedded):
    """Embeddings of symbols t - 1 at steps t (zeros at step 0), the input of Sec. 3.3."""
    return tf.pad(embedded[:, :-1], [[0, 0], [1, 0], [0, 0]])


def _support(gradient):
    return np.flatnonzero(np.any(gradient[0].numpy() != 0, -1))


def _sources(lengths, width, seed=0):
    """Random sources of `lengths` bytes (values 2..255), then PAD."""
    values = np.random.default_rng(seed).integers(2, 256, size=(len(lengths), width))
    return np.where(np.arange(width)[None] < np.array(lengths)[:, None], values, PAD)


def test_registered_defaults_are_the_papers():
    lm, translate = registry.get("bytenet_lm"), registry.get("bytenet_translate")
    assert (lm.dataset, translate.dataset) == ("text", "parallel_text")
    assert lm.signatures == ("serving_default", "log_prob", "sample")
    assert translate.signatures == ("serving_default", "log_prob", "translate")
    model = ByteNetLM()  # Sec. 5: d = 512, k = 3, 30 MU blocks, dilations 1..16 six times
    assert model.target_network.dilations == [1, 2, 4, 8, 16] * 6
    assert (model.hidden_units, model.target_network.kernel_size) == (512, 3)
    assert model.target_network.multiplicative
    model = ByteNetTranslator()  # Sec. 6: d = 800, 30 ReLU blocks per network, a = 1.2, b = 0
    assert model.source_network.dilations == model.target_network.dilations == [1, 2, 4, 8, 16] * 6
    assert not model.source_network.causal and model.target_network.causal
    assert not model.target_network.multiplicative
    assert (model.hidden_units, model.unfolding_a, model.unfolding_b) == (800, 1.2, 0.0)


@pytest.fixture(scope="module")
def lm():
    return _lm()


@pytest.fixture(scope="module")
def translator():
    """A tiny translator shared by the tests that do not change it (its traces too)."""
    return _translator()


def test_lm_is_causal_by_gradient(lm):
    """d logits[t] / d embedding(token t') = 0 for t' >= t, nonzero for some t' < t."""
    embedded = lm.target_embedding(lm.example_features(1)["tokens"])
    for t in (0, 5, 15):
        with tf.GradientTape() as tape:
            tape.watch(embedded)
            logits = lm.decode(_shift(embedded))[0, t] * tf.range(1.0, 257.0)
        support = _support(tape.gradient(logits, embedded))
        assert support.max(initial=-1) < t
        assert (len(support) > 0) == (t > 0)


def test_translator_target_is_causal_and_sees_the_source(translator):
    model = translator
    features = model.example_features(1)
    representation = model.source_representation(features["source"], 13)
    embedded = model.target_embedding(features["target"])
    source_embedded = model.source_embedding(features["source"])
    for t in (0, 4, 12):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([embedded, source_embedded])
            source = model.source_network(source_embedded)
            padded = tf.pad(source, [[0, 0], [0, 3], [0, 0]])
            logits = model.decode(padded + _shift(embedded))[0, t] * tf.range(1.0, 257.0)
        target_support = _support(tape.gradient(logits, embedded))
        assert target_support.max(initial=-1) < t
        assert len(_support(tape.gradient(logits, source_embedded))) > 0
    assert representation.shape == (1, 13, 12)


def test_lm_log_prob_matches_numpy_softmax(lm):
    model = lm
    features = model.example_features(3)
    tokens = features["tokens"].numpy()
    logits = model(features).numpy().astype(np.float64)
    expected = np.take_along_axis(log_softmax(logits, -1), tokens[..., None], -1)[..., 0].sum(1)
    np.testing.assert_allclose(model.log_prob(tokens).numpy(), expected, rtol=1e-5)
    loss, metrics = model.compute_losses(features)
    np.testing.assert_allclose(metrics["bits_per_char"], -expected / (16 * math.log(2)), rtol=1e-5)
    np.testing.assert_allclose(loss, -expected.mean() / 16, rtol=1e-5)


def test_translator_log_prob_counts_end_but_not_pad(translator):
    model = translator
    features = model.example_features(3)
    target = features["target"].numpy()
    logits = model(features).numpy().astype(np.float64)
    per_step = np.take_along_axis(log_softmax(logits, -1), target[..., None], -1)[..., 0]
    weights = target != PAD
    expected = (per_step * weights).sum(1)
    np.testing.assert_allclose(model.log_prob(features).numpy(), expected, rtol=1e-5)
    _, metrics = model.compute_losses(features)
    bits = -expected / (weights.sum(1) * math.log(2))
    np.testing.assert_allclose(metrics["bits_per_byte"], bits, rtol=1e-5)
    assert (weights.sum(1) == (target != PAD).sum(1)).all() and (target == END).sum() == 3


def test_lm_fast_generation_equals_naive_generation(lm):
    for temperature in (1.0, 0.0):
        kwargs = dict(seed=11, temperature=temperature)
        fast = lm.sample(3, 24, **kwargs).numpy()
        assert fast.shape == (3, 24) and fast.dtype == np.int32
        np.testing.assert_array_equal(fast, lm.sample(3, 24, method="naive", **kwargs))
        np.testing.assert_array_equal(fast, lm.sample(3, 24, jit_compile=True, **kwargs))
        other = lm.sample(3, 24, seed=12, temperature=temperature).numpy()
        assert np.array_equal(other, fast) == (temperature == 0.0)


def test_lm_greedy_samples_are_the_argmax_of_their_own_conditionals(lm):
    tokens = lm.sample(4, 20, seed=0, temperature=0.0).numpy()
    np.testing.assert_array_equal(tokens, lm({"tokens": tokens}).numpy().argmax(-1))


def test_translator_fast_unfolding_equals_naive_unfolding(translator):
    source = _sources([3, 10, 7, 1], 10)
    for temperature in (1.0, 0.0):
        kwargs = dict(temperature=temperature, seed=4)
        fast = translator.translate(source, **kwargs).numpy()
        naive = translator.translate(source, method="naive", **kwargs)
        np.testing.assert_array_equal(fast, naive)
        xla = translator.translate(source, jit_compile=True, **kwargs)
        np.testing.assert_array_equal(fast, xla)


def _check_unfolding(symbols, bound):
    """Rows: at most `bound` bytes, then END, then PAD only."""
    for row, limit in zip(symbols, bound):
        ends = np.flatnonzero(row == END)
        assert len(ends) >= 1 and ends[0] <= limit, (row, limit)
        assert (row[: ends[0]] != PAD).all() and (row[ends[0] + 1 :] == PAD).all()


@pytest.mark.parametrize("a, b", [(1.2, 0.0), (0.5, 2.0)])
def test_dynamic_unfolding_stops_at_end_and_within_a_s_plus_b(a, b):
    model = _translator(unfolding_a=a, unfolding_b=b)
    lengths = [1, 4, 10, 7, 5]
    source = _sources(lengths, 10, seed=1)
    bound = np.floor(a * np.array(lengths) + b).astype(int)
    np.testing.assert_array_equal(model.extended_lengths(source), bound)
    symbols = model.translate(source, temperature=1.0, seed=2).numpy()
    assert symbols.shape == (5, math.floor(a * 10 + b) + 1)
    _check_unfolding(symbols, bound)
    # A model that never ends: |t^| bytes, then END. One that always ends: END at once.
    bias = model.output_projection.bias
    bias.assign(tf.tensor_scatter_nd_update(bias, [[END]], [-1e9]))
    never = model.translate(source, temperature=1.0, seed=2).numpy()
    _check_unfolding(never, bound)
    np.testing.assert_array_equal((never == END).argmax(1), bound)
    bias.assign(tf.tensor_scatter_nd_update(bias, [[END]], [1e9]))
    always = model.translate(source, temperature=1.0, seed=2).numpy()
    np.testing.assert_array_equal(always[:, 0], END)
    np.testing.assert_array_equal(always[:, 1:], PAD)


def test_greedy_translation_is_the_argmax_under_teacher_forcing_whatever_the_padding(translator):
    model = translator
    source = _sources([6, 9, 2], 10, seed=3)
    translation = model.translate(source).numpy()
    logits = model({"source": source, "target": translation}).numpy()
    for row, predicted, limit in zip(translation, logits.argmax(-1), [7, 10, 2]):
        end = int(np.flatnonzero(row == END)[0])
        if end < limit:  # END chosen, not forced at step |t^|
            np.testing.assert_array_equal(row[: end + 1], predicted[: end + 1])
        else:
            np.testing.assert_array_equal(row[:end], predicted[:end])
    # One sentence alone, without the batch's padding, gets the same translation.
    alone = model.translate(source[2:, :2]).numpy()
    np.testing.assert_array_equal(alone[0], translation[2, : alone.shape[1]])
    assert (translation[2, alone.shape[1] :] == PAD).all()


def test_exact_match(translator):
    model = translator
    source = _sources([4, 8], 10, seed=5)
    translation = model.translate(source).numpy()
    target = np.full([2, 13], PAD)
    target[:, : translation.shape[1]] = translation
    np.testing.assert_array_equal(model.exact_match({"source": source, "target": target}), [1, 1])
    target[1, 0] = (target[1, 0] + 1) % 256 or 2
    np.testing.assert_array_equal(model.exact_match({"source": source, "target": target}), [1, 0])


def test_translate_signature_gives_the_python_results(translator):
    source = _sources([5, 3], 10, seed=6)
    signatures = translator.signatures()
    result = signatures["translate"](
        source=tf.constant(source, tf.int32),
        temperature=tf.constant(0.5),
        seed=tf.constant(8, tf.int64),
    )
    expected = translator.translate(source, temperature=0.5, seed=8).numpy()
    np.testing.assert_array_equal(result["target"], expected)
    np.testing.assert_array_equal(result["length"], (expected > END).sum(1))


def test_config_round_trip_and_bad_arguments(lm, translator):
    model = ByteNetTranslator(**TINY, multiplicative=True, unfolding_b=1.0)
    config = json.loads(json.dumps(model.get_config()))
    assert ByteNetTranslator.from_config(config).get_config() == model.get_config()
    with pytest.raises(ValueError, match="unfolding_a: expected a finite float in"):
        ByteNetTranslator(unfolding_a=0.0)
    with pytest.raises(TypeError, match="source: expected integer byte values"):
        translator.translate(np.zeros([1, 4], np.float32))
    with pytest.raises(ValueError, match="temperature: expected a finite float"):
        translator.translate(np.ones([1, 4], np.int32), temperature=-1.0)
    with pytest.raises(ValueError, match="tokens: expected shape"):
        lm.log_prob(np.zeros([4], np.int32))
    with pytest.raises(ValueError, match="method: expected one of"):
        lm.sample(2, 4, method="slow")
    with pytest.raises(ValueError, match="jit_compile: expected False for method='naive'"):
        lm.sample(2, 4, method="naive", jit_compile=True)


def _fit(model, dataset, options, steps, batch_size):
    tf.keras.utils.set_random_seed(0)
    # The legacy Adam's one fused update op per variable traces in half the time.
    model.compile(tf.keras.optimizers.legacy.Adam(3e-3))
    train = data.load(dataset, "train", batch_size=batch_size, repeat=True, seed=0, **options)
    return model.fit(train, steps_per_epoch=steps, epochs=1, verbose=0)


def test_lm_training_beats_the_unigram_baseline():
    counts = np.bincount(np.frombuffer(data.text.split_bytes()["train"], np.uint8), minlength=256)
    unigram = np.log2((counts + 1.0) / (counts + 1.0).sum())
    test = next(iter(data.load("text", "test", batch_size=256, seq_len=64)))
    baseline = -unigram[test["tokens"].numpy()].mean()  # bits per char, about 4.6
    model = ByteNetLM(hidden_units=32, dilation_rates=(1, 2, 4), seq_len=64, num_sets=1)
    _fit(model, "text", {"seq_len": 64}, steps=100, batch_size=16)
    bits = -model.log_prob(test).numpy().mean() / (64 * math.log(2))
    assert bits < baseline - 1.0, (bits, baseline)


def test_translator_learns_to_use_the_source():
    """After a short fit, the right sources explain the targets far better than wrong ones."""
    options = {"max_len": 16}
    model = ByteNetTranslator(
        hidden_units=32, dilation_rates=(1, 2, 4), num_sets=1, source_len=16, target_len=21
    )
    _fit(model, "parallel_text", options, steps=100, batch_size=32)
    test = next(iter(data.load("parallel_text", "test", batch_size=512, **options)))
    symbols = tf.reduce_sum(tf.cast(test["target"] != PAD, tf.float32))

    def bits_per_byte(source):
        return -tf.reduce_sum(model.log_prob(source, test["target"])) / (symbols * math.log(2))

    right, wrong = bits_per_byte(test["source"]), bits_per_byte(tf.roll(test["source"], 1, 0))
    assert right < 3.5 and right < wrong - 2.0, (right, wrong)
