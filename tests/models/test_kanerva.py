"""The Kanerva Machine (arXiv 1804.01756): its episode bound against NumPy, its claims by training.

The bound (Sec. 3.4) is recomputed in NumPy from the networks' outputs: the
memory posterior in information form (Sec. 3.3), the Gaussian KLs and the
matrix-variate KL through flattened normals, the Bernoulli likelihood. The
paper's claims are checked on 8x8 digits in episodes of one class each: the
memory lowers the bound below that of the same encoder and decoder without
memory (`MixtureVAE` with one component), it reconstructs corrupted digits
better, and reading cleans up corrupted queries.
"""

import numpy as np
import pytest
import tensorflow as tf
from scipy import special

from tfgen import data, noise
from tfgen.models import KanervaMachine, MixtureVAE
from tfgen.models.kanerva import _READ_Z, _WRITE_Y, _WRITE_Z, _expected_code_kl, class_episodes

TINY = dict(
    image_shape=(8, 8, 1),
    episode_length=3,
    memory_size=4,
    code_size=3,
    key_size=2,
    address_size=2,
    hidden_units=8,
)


def _gaussian(parameters):
    loc, raw = np.split(parameters.astype(np.float64), 2, axis=-1)
    return loc, np.logaddexp(0.0, raw) + 1e-4  # softplus scale


def _normal_kl(loc_q, scale_q, loc_p, var_p):
    """KL(N(loc_q, scale_q^2) || N(loc_p, var_p)) per dimension."""
    return 0.5 * (np.log(var_p / scale_q**2) + (scale_q**2 + (loc_q - loc_p) ** 2) / var_p - 1.0)


def _draw(shape, seed, stream):
    return noise.normal_from_seed(shape, noise.stream_seed(seed, stream)).numpy().astype(np.float64)


def _reference_bound(model, episodes, seed):
    """L(X) [B] from the paper's equations, the networks used as black boxes."""
    x = episodes.reshape(episodes.shape[0], episodes.shape[1], -1).astype(np.float64)
    memory = model.memory
    e = model.encoder(2.0 * x - 1.0).numpy()
    y_loc, y_scale = _gaussian(model.address_posterior(e).numpy())
    z_loc, z_scale = _gaussian(model.code_posterior(e).numpy())
    y = y_loc + y_scale * _draw(y_loc.shape, seed, _WRITE_Y)
    z_write = z_loc + z_scale * _draw(z_loc.shape, seed, _WRITE_Z)
    A = memory.addresses.numpy().astype(np.float64)
    w = model.key_network(y).numpy() @ (A / np.linalg.norm(A, axis=1, keepdims=True)).T
    if model.get_config()["noise_variance"] is None:
        sigma2 = 1e-3 + np.exp(memory.log_noise_variance.numpy().astype(np.float64))
    else:
        sigma2 = model.get_config()["noise_variance"]
    R0 = memory.prior_mean.numpy().astype(np.float64)
    U0 = np.diag(np.exp(memory.prior_log_variance.numpy().astype(np.float64)))
    C = R0.shape[1]
    read_noise = _draw(z_loc.shape, seed, _READ_Z)
    bounds = []
    for b in range(x.shape[0]):
        # Posterior of each memory column given z = W m + noise (information form).
        U = np.linalg.inv(np.linalg.inv(U0) + w[b].T @ w[b] / sigma2)
        R = U @ (np.linalg.inv(U0) @ R0 + w[b].T @ z_write[b] / sigma2)
        read_mean, read_var = w[b] @ R, np.einsum("tk,kl,tl->t", w[b], U, w[b])
        q_loc, q_scale = _gaussian(
            model.read_posterior(np.concatenate([e[b], read_mean], -1).astype(np.float32)).numpy()
        )
        z = q_loc + q_scale * read_noise[b]
        p = special.expit(model.decoder(z.astype(np.float32)).numpy().astype(np.float64))
        log_likelihood = np.sum(x[b] * np.log(p) + (1 - x[b]) * np.log1p(-p))
        # E_M KL(q(z|x,y,M) || N(w^T M, sigma^2)): w^T M ~ N(w^T R, w^T U w) per column.
        kl_z = np.sum(_normal_kl(q_loc, q_scale, read_mean, sigma2)) + np.sum(
            C * read_var / (2 * sigma2)
        )
        kl_y = np.sum(_normal_kl(y_loc[b], y_scale[b], 0.0, 1.0))
        # KL(MN(R, U, I) || MN(R0, U0, I)) = KL of N(vec R, I (x) U) || N(vec R0, I (x) U0).
        cov, cov0 = np.kron(np.eye(C), U), np.kron(np.eye(C), U0)
        delta = (R - R0).flatten(order="F")
        kl_m = 0.5 * (
            np.trace(np.linalg.inv(cov0) @ cov)
            + delta @ np.linalg.inv(cov0) @ delta
            - len(delta)
            + np.linalg.slogdet(cov0)[1]
            - np.linalg.slogdet(cov)[1]
        )
        bounds.append(log_likelihood - kl_z - kl_y - kl_m)
    return np.array(bounds)


def _tiny_model(noise_variance=0.6):
    tf.keras.utils.set_random_seed(3)
    model = KanervaMachine(**TINY, noise_variance=noise_variance).build_example()
    rng = np.random.default_rng(0)
    memory = model.memory  # Away from the initial values, so every term is exercised.
    memory.prior_mean.assign(rng.normal(size=memory.prior_mean.shape))
    memory.prior_log_variance.assign(rng.normal(scale=0.5, size=memory.prior_log_variance.shape))
    if noise_variance is None:
        memory.log_noise_variance.assign(-0.5)
    return model


@pytest.mark.parametrize("noise_variance", [0.6, None])
def test_episode_bound_equals_numpy_reference(noise_variance):
    model = _tiny_model(noise_variance)
    episodes = model.example_features(2, seed=1)["image"].numpy()
    np.testing.assert_allclose(
        model.log_prob(episodes, seed=5).numpy(), _reference_bound(model, episodes, 5), rtol=2e-4
    )
    # A flat batch of 2 T images is the same 2 episodes.
    flat = episodes.reshape(-1, 8, 8, 1)
    np.testing.assert_allclose(
        model.log_prob({"image": flat}, seed=5).numpy(),
        model.log_prob(episodes, seed=5).numpy(),
        rtol=1e-6,
    )


def test_expected_code_kl_averages_the_kl_over_memory_draws():
    """Sec. 3.4: E over w^T M ~ N(w^T R, w^T U w I) of the code KL, against Monte Carlo."""
    rng = np.random.default_rng(1)
    q_loc, q_scale = rng.normal(size=4), rng.uniform(0.3, 1.5, size=4)
    read_mean, read_var, sigma2 = rng.normal(size=4), 0.7, 0.4
    draws = read_mean + np.sqrt(read_var) * rng.normal(size=(400_000, 4))
    monte_carlo = np.mean(np.sum(_normal_kl(q_loc, q_scale, draws, sigma2), axis=-1))
    analytic = _expected_code_kl(
        *(tf.constant(v, tf.float64) for v in (q_loc, q_scale, read_mean, read_var, sigma2))
    )
    np.testing.assert_allclose(analytic.numpy(), monte_carlo, rtol=5e-3)


def test_writing_an_episode_does_not_depend_on_its_order():
    model = _tiny_model()
    episodes = model.example_features(2, seed=2)["image"]
    R, U = model.write(episodes)
    R_perm, U_perm = model.write(tf.gather(episodes, [2, 0, 1], axis=1))
    np.testing.assert_allclose(R_perm.numpy(), R.numpy(), atol=1e-5)
    np.testing.assert_allclose(U_perm.numpy(), U.numpy(), atol=1e-5)
    assert np.all(
        np.trace(U.numpy(), axis1=1, axis2=2)
        < np.trace(model.memory.prior(2)[1].numpy(), axis1=1, axis2=2)
    )


def test_errors_say_what_was_expected():
    model = _tiny_model()
    with pytest.raises(ValueError, match="a multiple of episode_length=3"):
        model.log_prob({"image": tf.zeros([4, 8, 8, 1], tf.int32)})
    with pytest.raises(ValueError, match=r"expected images \[N, 8, 8, 1\] or episodes"):
        model.log_prob(tf.zeros([3, 8, 9, 1], tf.int32))
    R, U = model.memory.prior(1)
    with pytest.raises(ValueError, match="iterations: expected an int >= 1"):
        model.read(R, U, tf.zeros([1, 2, 8, 8, 1]), iterations=0)
    with pytest.raises(ValueError, match="labels_per_episode: expected at most 2"):
        class_episodes(np.zeros([4, 8, 8, 1]), [0, 1, 0, 1], 1, 2, labels_per_episode=3)


# --------------------------------------------------------------------- training (slow)
SMALL = dict(
    image_shape=(8, 8, 1),
    episode_length=16,
    memory_size=16,
    code_size=8,
    key_size=8,
    address_size=4,
    hidden_units=64,
)
STEPS, EPISODES_PER_BATCH = 1000, 4


def _split(split):
    batches = list(data.load("digits", split, batch_size=2000, shuffle=False, view="binary"))
    return (
        np.concatenate([b["image"].numpy() for b in batches]),
        np.concatenate([b["label"].numpy() for b in batches]),
    )


def _nll(probs, target):
    """-log Bernoulli(target; probs) per 8x8 image, averaged (nats/image)."""
    p = np.clip(probs.reshape(-1, 64), 1e-6, 1 - 1e-6)
    t = target.reshape(-1, 64)
    return -np.mean(np.sum(t * np.log(p) + (1 - t) * np.log1p(-p), axis=1))


@pytest.fixture(scope="module")
def trained():
    """The Kanerva Machine and the VAE baseline, trained alike on one-class digit episodes."""
    images, labels = _split("train")
    length = SMALL["episode_length"]
    train = class_episodes(images, labels, STEPS * EPISODES_PER_BATCH, length, seed=0)
    dataset = tf.data.Dataset.from_tensor_slices({"image": train}).batch(
        EPISODES_PER_BATCH * length
    )
    test_images, test_labels = _split("test")
    test = class_episodes(test_images, test_labels, 40, length, seed=1).reshape(40, length, 8, 8, 1)
    tf.keras.utils.set_random_seed(0)
    km = KanervaMachine(**SMALL)
    km.compile(tf.keras.optimizers.Adam(3e-3))
    initial = -np.mean(km.log_prob(test).numpy()) / length
    km.fit(dataset, epochs=1, verbose=0)
    vae = MixtureVAE(
        image_shape=(8, 8, 1),
        num_components=1,
        latent_dim=SMALL["code_size"],
        hidden_units=SMALL["hidden_units"],
    )
    vae.compile(tf.keras.optimizers.Adam(3e-3))
    vae.fit(dataset, epochs=1, verbose=0)
    p = (images.reshape(len(images), -1).sum(0) + 1.0) / (len(images) + 2.0)
    pixels = _nll(np.broadcast_to(p, (test.size // 64, 64)), test)
    return {
        "km": km,
        "vae": vae,
        "test": test,
        "initial": initial,
        "pixels": pixels,
    }


def _vae_reconstruction(vae, query):
    """The VAE's reconstruction: the decoder's Bernoulli means at the posterior mean."""
    posterior = vae.posterior(tf.reshape(tf.cast(query, tf.float32), [-1, 64]))
    return tf.sigmoid(vae.decode(posterior.loc[:, 0])).numpy()


def _corrupt(episodes, fraction, seed):
    flips = np.random.default_rng(seed).random(episodes.shape) < fraction
    return np.where(flips, 1 - episodes, episodes).astype(np.float32)


@pytest.mark.slow
def test_memory_lowers_the_bound_below_the_vae(trained):
    """The episode bound per image beats the same encoder/decoder without memory."""
    km, vae, test = trained["km"], trained["vae"], trained["test"]
    length = test.shape[1]
    km_nats = -np.mean([km.log_prob(test, seed=s).numpy() for s in range(5)]) / length
    vae_nats = -np.mean([vae.elbo(test.reshape(-1, 8, 8, 1), s).numpy() for s in range(5)])
    assert km_nats < trained["initial"] - 10.0  # training lowered the bound
    assert km_nats < trained["pixels"] and vae_nats < trained["pixels"]
    assert km_nats < vae_nats - 1.0, (km_nats, vae_nats)


@pytest.mark.slow
def test_memory_reconstructs_corrupted_digits_better_than_the_vae(trained):
    """Reading 20%-corrupted digits from the stored clean episode beats the VAE's reconstruction."""
    km, vae, test = trained["km"], trained["vae"], trained["test"]
    R, U = km.write(test)
    query = _corrupt(test, 0.2, seed=3)
    read = km.read(R, U, query)[0].numpy()
    assert _nll(read, test) < _nll(_vae_reconstruction(vae, query), test) - 1.0


@pytest.mark.slow
def test_reading_cleans_up_corrupted_queries(trained):
    """Iterative reading (Sec. 3.5) of 30%-corrupted queries.

    The first read at least halves the wrong pixels; at this heavy corruption a
    second or third read improves on the first (at light corruption further
    reads drift instead: docs/RESULTS.md).
    """
    km, test = trained["km"], trained["test"]
    R, U = km.write(test)
    query = _corrupt(test, 0.3, seed=4)

    def error(images):  # the fraction of wrong pixels
        return np.mean((images > 0.5) != test)

    errors = [error(km.read(R, U, query, iterations=k)[0].numpy()) for k in (1, 2, 3)]
    assert errors[0] < error(query) / 2
    assert min(errors[1:]) < errors[0], errors
