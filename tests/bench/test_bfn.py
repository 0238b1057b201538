"""Smoke test of bench/bfn.py: BFN sampling in the three loop modes, the four test-size models."""

from tests.bench import smoke
from tests.conformance import goldens
from tfgen import registry

MODELS = [
    ("bfn_continuous", "8x8x1"),
    ("bfn_discretised", "8x8x1"),
    ("bfn_discrete", "8x8x1"),
    ("bfn_discrete_text", "16"),
]


def _conv_net_flops(batch, inputs, outputs, filters, num_layers, pixels=8 * 8):
    """A BFNConvNet step by hand: 3x3 convolutions, the time-embedding MLP, block projections."""
    convs = [(inputs, filters), (filters, outputs)] + [(filters, filters)] * (2 * num_layers)
    embedding = 2 * batch * (17 * filters + filters**2)  # 8 sin/cos pairs and t -> MLP
    return (
        sum(2 * batch * pixels * 9 * cin * cout for cin, cout in convs)
        + embedding
        + num_layers * 2 * batch * filters**2
    )


def _transformer_flops(batch, length, categories, model_dim, num_layers, kernel_size):
    """A BFNTransformer step by hand: input convolution, attention scores and values, MLP."""
    rows, d = batch * length, model_dim
    block = 2 * rows * (4 * d * d) + 2 * 2 * batch * length * length * d + 2 * rows * 8 * d * d
    embedding = 2 * batch * (17 * d + d * d)
    projections = 2 * rows * (kernel_size + 1) * categories * d  # input convolution, output
    return projections + num_layers * block + embedding


def _expected_mflops(batch=2):
    images = goldens.GOLDENS["bfn_discrete"].hparams  # the same network size for the three
    text = {
        **registry.get("bfn_discrete_text").hparams,
        **goldens.GOLDENS["bfn_discrete_text"].hparams,
    }
    conv = lambda inputs, outputs: _conv_net_flops(  # noqa: E731
        batch, inputs, outputs, images["filters"], images["num_layers"]
    )
    return {
        "bfn_continuous": conv(1, 1),  # mu in, eps_hat out
        "bfn_discretised": conv(1, 2),  # mu in, (mu_eps, ln sigma_eps) out
        "bfn_discrete": conv(2, 2),  # theta over K = 2 in, logits out
        "bfn_discrete_text": _transformer_flops(
            batch, 16, 256, text["model_dim"], text["num_layers"], text["kernel_size"]
        ),
    }


def test_bfn_tiny():
    out = smoke.run("bfn")
    table, profile, machine = smoke.tables(out)
    # --tiny: 2 and 4 sampling steps per model.
    models, shapes = table.column("model"), table.column("data shape")
    assert list(zip(models, shapes, table.column("steps"))) == [
        (name, shape, steps) for name, shape in MODELS for steps in ("2", "4")
    ]
    modes = ("graph", "XLA loop", "XLA network")
    times = zip(*(table.column(f"{mode} ms/step") for mode in modes))
    expected = _expected_mflops()
    for model, mode_times, fastest, speed_up, same, mflops in zip(
        models,
        times,
        table.column("fastest"),
        table.column("speed-up over graph"),
        table.column("samples as graph mode's"),
        table.column("network MFLOP/step"),
    ):
        mode_times = [smoke.number(cell, low=0) for cell in mode_times]
        assert mode_times[modes.index(fastest)] == min(mode_times)
        assert smoke.number(speed_up) >= 1.0  # the fastest mode against graph mode
        assert same == "100.00%"  # tiny models: the three modes give the same samples
        assert smoke.number(mflops) == round(expected[model] / 1e6, 4), model
    for cell in table.column("GFLOP/s (of limit)"):
        assert len(smoke.numbers(cell)) == 2, cell  # GFLOP/s and its percent of the limit
    assert profile.column("model") == [name for name, _ in MODELS]
    assert machine.header == ["limit", "measured"]
    assert "BFN sampling, batch 2, test hyper-parameters" in out
