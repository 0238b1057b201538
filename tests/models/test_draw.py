"""DRAW (arXiv 1502.04623): the glimpse loop and loss against NumPy, gradients, sampling, training.

The NumPy reference runs Eqs. 3-8 (inference), 9-11 (loss) and 13-15
(generation) of the paper with the model's weights: LSTMs in Keras's gate order
(input, forget, candidate, output), the read and write of Sec. 3.1 (no
attention) or Sec. 3.3 (attention, the filterbank reference of
`tests/layers/draw_reference.py`), and the KL of a diagonal Gaussian to N(0, I) in the form
`log(1/sigma) + (sigma^2 + mu^2)/2 - 1/2` per dimension.
"""

import numpy as np
import pytest
import tensorflow as tf
from scipy import special

from tests import baselines
from tests.layers.draw_reference import reference_read, reference_write
from tfgen import data, noise
from tfgen.models import draw
from tfgen.models.draw import DRAW

SMALL = dict(
    image_shape=(8, 8, 1), num_glimpses=3, hidden_units=6, latent_dim=2, read_size=2, write_size=3
)


def _model(attention, seed=0, **overrides):
    """A small DRAW with every trainable weight (and learned initial state) randomised."""
    model = DRAW(**{**SMALL, "attention": attention, **overrides})
    model.build()
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        weight.assign(0.4 * rng.normal(size=weight.shape))
    return model


def _digits(split):
    batches = data.load("digits", split, batch_size=2000, shuffle=False, view="binary")
    return np.concatenate([b["image"].numpy() for b in batches])


def _lstm(cell, inputs, h, c):
    """Keras LSTMCell: z = x K + h R + b, gates (i, f, g, o); c' = f c + i g, h' = o tanh(c')."""
    z = inputs @ cell.kernel.numpy() + h @ cell.recurrent_kernel.numpy() + cell.bias.numpy()
    i, f, g, o = np.split(z, 4, axis=-1)
    c = special.expit(f) * c + special.expit(i) * np.tanh(g)
    return special.expit(o) * np.tanh(c), c


def _dense(layer, inputs):
    return inputs @ layer.kernel.numpy() + layer.bias.numpy()


def _write(model, h_dec):
    height, width, _ = model.image_shape
    if not model.attention:
        return _dense(model.writer, h_dec)  # Eq. 18
    n = model.write_size
    patch = _dense(model.writer.patch, h_dec).reshape(-1, n, n)  # Eq. 28
    params = _dense(model.writer.window, h_dec)
    return reference_write(params, patch, height, width).reshape(len(h_dec), -1)  # Eq. 29


def _initial(model, batch):
    zeros = np.zeros([batch, model.hidden_units])
    return (
        np.tile(model.canvas_0.numpy(), [batch, 1]),
        (np.tile(model.encoder_state_0.numpy(), [batch, 1]), zeros),
        (np.tile(model.decoder_state_0.numpy(), [batch, 1]), zeros),
    )


def _reference_inference(model, x, eps):
    """Eqs. 3-11 on flat images x [B, H*W] with noise eps [T, B, D]: per-step loc, scale, z,
    KL [B, T(, D)], c_T and L^x [B]."""
    height, width, _ = model.image_shape
    canvas, (h_enc, c_enc), (h_dec, c_dec) = _initial(model, len(x))
    steps = {"loc": [], "scale": [], "z": [], "kl": []}
    for t in range(model.num_glimpses):
        x_hat = x - special.expit(canvas)  # Eq. 3
        if model.attention:  # Eq. 27
            shape = (len(x), height, width)
            r = reference_read(
                _dense(model.reader.window, h_dec),
                model.read_size,
                x.reshape(shape),
                x_hat.reshape(shape),
            )
        else:  # Eq. 17
            r = np.concatenate([x, x_hat], axis=-1)
        h_enc, c_enc = _lstm(model.encoder, np.concatenate([r, h_dec], -1), h_enc, c_enc)  # Eq. 5
        loc = _dense(model.posterior_loc, h_enc)  # Eq. 1
        scale = np.exp(_dense(model.posterior_log_scale, h_enc))  # Eq. 2
        z = loc + scale * eps[t]  # Eq. 6
        h_dec, c_dec = _lstm(model.decoder, z, h_dec, c_dec)  # Eq. 7
        canvas = canvas + _write(model, h_dec)  # Eq. 8
        kl = np.sum(np.log(1 / scale) + (scale**2 + loc**2) / 2 - 0.5, axis=-1)
        for key, value in zip(steps, (loc, scale, z, kl)):
            steps[key].append(value)
    p = special.expit(canvas)
    reconstruction = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=-1)  # Eq. 9
    return {key: np.stack(v, axis=1) for key, v in steps.items()}, canvas, reconstruction


@pytest.mark.parametrize("attention", [True, False])
def test_glimpse_loop_and_loss_match_numpy_reference(attention):
    model = _model(attention)
    image = model.example_features(3, seed=1)["image"]
    x = image.numpy().reshape(3, -1).astype(np.float64)
    outputs = model.infer(image, seed=5)
    # The posterior noise of this seed, eps_t = (z_t - mu_t) / sigma_t, drives the reference.
    eps = np.transpose((outputs["z"] - outputs["loc"]) / outputs["scale"], [1, 0, 2])
    steps, canvas, reconstruction = _reference_inference(model, x, eps)
    for key in ("loc", "scale", "z", "kl"):
        np.testing.assert_allclose(
            outputs[key].numpy(), steps[key], rtol=2e-4, atol=2e-5, err_msg=key
        )
    np.testing.assert_allclose(outputs["canvas"].numpy(), canvas, rtol=2e-4, atol=2e-5)
    latent = steps["kl"].sum(axis=1)  # Eq. 10: summed over the T steps
    np.testing.assert_allclose(
        model.log_prob(image, seed=5).numpy(), -(reconstruction + latent), rtol=1e-4
    )
    # The noise is a standard normal draw of its own, not a function of the images.
    assert np.all(np.abs(eps) < 6) and np.std(eps) > 0.3


def test_latent_loss_is_the_kl_summed_over_steps():
    model = _model(attention=True, num_glimpses=5)
    image = model.example_features(4, seed=2)["image"]
    outputs = model.infer(image, seed=3)
    loc, scale = outputs["loc"].numpy(), outputs["scale"].numpy()
    per_step = np.sum(-np.log(scale) + (scale**2 + loc**2) / 2 - 0.5, axis=-1)  # [B, T]
    assert per_step.shape == (4, 5) and np.all(per_step > 0)
    result = model.signatures()["log_prob"](image=image, seed=tf.constant(3, tf.int64))
    np.testing.assert_allclose(result["latent_loss"].numpy(), per_step.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(
        result["nats_upper_bound"].numpy(),
        (result["reconstruction_loss"] + result["latent_loss"]).numpy(),
        rtol=1e-6,
    )


def test_posterior_sample_is_reparameterised():
    """z_1 = mu_1 + sigma_1 eps_1: dz_1/dmu_1 = I (mu_1's bias shifts z_1 one for one) and
    dz_1/d log sigma_1 = sigma_1 eps_1; the loss has gradients through the samples."""
    model = _model(attention=True)
    image = model.example_features(3, seed=4)["image"]
    weights = tf.constant(np.random.default_rng(0).normal(size=(3, 2)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        outputs = model.infer(image, seed=6)
        target = tf.reduce_sum(outputs["z"][:, 0] * weights)
        loss = -tf.reduce_mean(model.log_prob(image, seed=6))
    d_loc = tape.gradient(target, model.posterior_loc.bias).numpy()
    np.testing.assert_allclose(d_loc, weights.numpy().sum(axis=0), rtol=1e-5)
    d_log_scale = tape.gradient(target, model.posterior_log_scale.bias).numpy()
    noise_part = (outputs["z"][:, 0] - outputs["loc"][:, 0]).numpy()  # sigma_1 eps_1
    np.testing.assert_allclose(
        d_log_scale, np.sum(noise_part * weights.numpy(), axis=0), rtol=1e-4, atol=1e-6
    )
    for variable in (
        model.posterior_loc.kernel,
        model.posterior_log_scale.kernel,
        model.encoder.kernel,
        model.reader.window.bias,
    ):
        assert np.abs(tape.gradient(loss, variable).numpy()).max() > 1e-4, variable.name
    # The read attention is differentiable w.r.t. its centre g~X (the window bias 0).
    assert abs(tape.gradient(loss, model.reader.window.bias).numpy()[0]) > 1e-4


@pytest.mark.parametrize("attention", [True, False])
def test_sample_draws_the_canvases_of_the_decoder(attention):
    """Eqs. 13-16: z_t ~ N(0, I) through the decoder; every canvas is returned."""
    model = _model(attention, num_glimpses=4)
    image, canvases = model.sample(5, seed=3, jit_compile=False)
    assert image.shape == (5, 8, 8, 1) and image.dtype == tf.int32
    assert canvases.shape == (5, 4, 8, 8, 1)
    assert set(np.unique(image.numpy())) <= {0, 1}
    # The reference decoder run on the sampler's prior noise (its own stream of the seed).
    z = noise.normal_from_seed([4, 5, 2], noise.stream_seed(3, draw._PRIOR_NOISE)).numpy()
    canvas, _, (h_dec, c_dec) = _initial(model, 5)
    for t in range(4):
        h_dec, c_dec = _lstm(model.decoder, z[t], h_dec, c_dec)  # Eq. 14
        canvas = canvas + _write(model, h_dec)  # Eq. 15
        np.testing.assert_allclose(
            canvases[:, t].numpy().reshape(5, -1), special.expit(canvas), rtol=1e-4, atol=1e-5
        )
    # Same seed, same sample, with and without XLA; another seed, another sample.
    again, again_canvases = model.sample(5, seed=3)  # XLA by default
    np.testing.assert_array_equal(again.numpy(), image.numpy())
    np.testing.assert_allclose(again_canvases.numpy(), canvases.numpy(), atol=1e-5)
    assert np.any(model.sample(5, seed=4)[1].numpy() != canvases.numpy())


def test_signature_outputs():
    model = _model(attention=True)
    signatures = model.signatures()
    image = model.example_features(2)["image"]
    default = signatures["serving_default"](image=image)
    bound = signatures["log_prob"](image=image, seed=tf.constant(0, tf.int64))
    np.testing.assert_allclose(
        default["nats_upper_bound"].numpy(), -default["log_prob_lower_bound"].numpy()
    )
    np.testing.assert_allclose(
        default["nats_upper_bound"].numpy(), bound["nats_upper_bound"].numpy(), rtol=1e-6
    )
    np.testing.assert_allclose(
        bound["log_prob_lower_bound"].numpy(), model.log_prob(image, seed=0).numpy(), rtol=1e-6
    )
    # A bound on the log-probability of a discrete image: below 0, with L^x, L^z >= 0.
    assert np.all(bound["log_prob_lower_bound"].numpy() < 0)
    assert np.all(bound["reconstruction_loss"].numpy() > 0)
    assert np.all(bound["latent_loss"].numpy() > 0)
    canvas = model.infer(image)["canvas"].numpy().reshape(2, 8, 8, 1)
    np.testing.assert_allclose(
        default["reconstruction"].numpy(), special.expit(canvas), rtol=1e-5, atol=1e-6
    )
    sample = signatures["sample"](num_samples=tf.constant(3), seed=tf.constant(2, tf.int64))
    assert sample["canvases"].shape == (3, 3, 8, 8, 1)
    np.testing.assert_array_equal(sample["probs"].numpy(), sample["canvases"][:, -1].numpy())


def test_model_without_attention_saves_the_keras_way(tmp_path):
    model = _model(attention=False)
    image = model.example_features(2)["image"]
    path = str(tmp_path / "draw.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert not loaded.attention and not hasattr(loaded, "reader")
    np.testing.assert_allclose(
        loaded.log_prob(image, seed=1).numpy(), model.log_prob(image, seed=1).numpy(), rtol=1e-6
    )


def _train(attention, steps):
    """Test-set nats/image (3 draws) before and after `steps` Adam steps on 8x8 digits."""
    test = _digits("test")
    model = DRAW(
        **{**SMALL, "attention": attention, "num_glimpses": 4, "hidden_units": 32, "latent_dim": 4}
    )
    model.compile(tf.keras.optimizers.Adam(3e-3))
    initial = -np.mean(model.log_prob(test).numpy())
    dataset = data.load("digits", "train", batch_size=32, repeat=True, view="binary")
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return initial, -np.mean([model.log_prob(test, seed=s).numpy() for s in range(3)])


def _independent_pixel_nats():
    return baselines.independent_pixel_nats(_digits("train"), _digits("test"))


def test_training_beats_independent_pixels():
    """600 steps without attention: the test bound falls below independent pixels."""
    baseline = _independent_pixel_nats()
    initial, nats = _train(attention=False, steps=600)
    # Measured: initial 45.8, independent pixels 25.3, trained 20.4 nats/image.
    assert initial > baseline + 15
    assert nats < baseline - 3.0


def test_training_with_attention_lowers_the_loss():
    """200 steps with 2x2 reads and 3x3 writes: the bound falls to about independent pixels."""
    baseline = _independent_pixel_nats()
    initial, nats = _train(attention=True, steps=200)
    # Measured: initial 44.5, independent pixels 25.3, trained 25.6 nats/image.
    assert nats < initial - 15
    assert nats < baseline + 1.0


def test_errors():
    with pytest.raises(ValueError, match="image_shape: expected a single channel"):
        DRAW(image_shape=(8, 8, 3))
    with pytest.raises(TypeError, match="attention: expected a bool, got 1"):
        DRAW(attention=1)
    with pytest.raises(ValueError, match="num_glimpses: expected an int >= 1, got 0"):
        DRAW(num_glimpses=0)
    model = DRAW(**SMALL)
    with pytest.raises(ValueError, match=r"image: expected shape \[batch, 8, 8, 1\]"):
        model.log_prob(tf.zeros([2, 28, 28, 1], tf.int32))
    with pytest.raises(ValueError, match="expected an 'image' key"):
        model.compute_losses({"label": tf.zeros([2], tf.int32)})
    with pytest.raises(ValueError, match="num_samples: expected an int >= 1, got 0"):
        model.sample(0)
