"""The conformance suite for RL agents: every registered agent, the same checks.

An RL algorithm is covered by registering it in `tfgen.registry` with
`kind="agent"`: its hyper-parameters are its constructor's defaults (minus the
runner's arguments), it trains through the RL runner (`training.rl`, what
`python -m training --model NAME` runs) into a run directory, its policy is
exported as a SavedModel version under the run's `export/`, loads in a fresh
process that never imports tfgen and answers the same actions, and is served
over the TF Serving gRPC API.
"""

import inspect
import os

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.environments import suite_gym
from tf_agents.trajectories import time_step as ts

from serving.client import Client
from tests import fresh_process
from tests.conformance import hostile_requests
from tests.serving.conftest import server_factory  # noqa: F401  (the serving tests' fixture)
from tfgen import hparams as hparams_lib
from tfgen import registry
from tfgen.run_dir import RunDir
from training import rl

AGENTS = [name for name in registry.names() if registry.get(name).kind == registry.AGENT]
FRAMES = 200  # A few hundred frames: enough for updates, rollouts and episode ends.
BATCH = 8
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def test_agents_are_registered():
    assert AGENTS
    assert "a3c" in AGENTS


@pytest.mark.parametrize("name", AGENTS)
def test_hparams_are_the_constructor_defaults(name):
    entry = registry.get(name)
    parameters = dict(list(inspect.signature(entry.model_class.__init__).parameters.items())[1:])
    assert "env" in entry.runtime_args and set(entry.runtime_args) <= set(parameters)
    expected = {
        key: p.default
        for key, p in parameters.items()
        if p.kind in _NAMED and key not in entry.runtime_args
    }
    assert dict(entry.hparams) == expected
    assert registry.resolve_hparams(name) == expected

    key, default = next(
        (k, v) for k, v in expected.items() if isinstance(v, int) and not isinstance(v, bool)
    )
    resolved = hparams_lib.resolve(entry.hparams, f"{key}={default + 1}")
    assert resolved == dict(expected, **{key: default + 1})
    with pytest.raises(ValueError, match="expected keys among"):
        hparams_lib.resolve(entry.hparams, "no_such_hparam=1")
    with pytest.raises(TypeError, match=f"expected {key} of type int"):
        hparams_lib.resolve(entry.hparams, f"{key}='text'")


@pytest.fixture(scope="module", params=AGENTS)
def trained(request, tmp_path_factory):
    """`(name, agent, export_dir, run)`: a tiny agent trained by the RL runner."""
    name = request.param
    run = RunDir(tmp_path_factory.mktemp(name) / "run")
    agent, export_dir = rl.train_agent(
        name, threads=1, frames=FRAMES, model_dir=run.path, seed=0, verbose=0
    )
    return name, agent, export_dir, run


def _time_steps(observations, step_type=ts.StepType.MID):
    """A batch of time steps (flat arrays) at `observations`."""
    batch = len(observations)
    return {
        "step_type": np.full([batch], step_type, np.int32),
        "reward": np.zeros([batch], np.float32),
        "discount": np.ones([batch], np.float32),
        "observation": observations,
    }


def _signature_inputs(time_steps):
    """PolicySaver's input names of a time step with a flat observation."""
    return {f"0/{key}": value for key, value in time_steps.items()}


def _expected_actions(agent, time_steps):
    """The in-process serving policy's actions (greedy: deterministic)."""
    policy = rl.serving_policy(agent)
    step = ts.TimeStep(**{k: tf.constant(v) for k, v in time_steps.items()})
    return policy.action(step).action.numpy()


@pytest.fixture(scope="module")
def observations(trained):
    """`BATCH` fixed observations on which the trained policy takes more than one action.

    Candidates: observations of the agent's environment under random actions,
    and Gaussian observations of growing scale (a briefly trained policy may
    prefer one action on every real state; far from them its logits are
    dominated by the linear part of the network, so the preferred action
    changes with the direction). Taken round-robin over the greedy actions, so
    that equal answers from the export cannot come from a constant policy.
    """
    name, agent, _, _ = trained
    env = suite_gym.load(registry.get(name).dataset)
    env.seed(0)
    rng = np.random.default_rng(0)
    spec = env.action_spec()
    real, time_step = [], env.reset()
    while len(real) < 4 * BATCH:
        real.append(time_step.observation)
        time_step = env.step(np.asarray(rng.integers(spec.minimum, spec.maximum + 1), spec.dtype))
    real = np.stack(real)
    candidates = np.concatenate(
        [real] + [rng.normal(0.0, scale, real.shape) for scale in (1.0, 10.0, 100.0)]
    ).astype(real.dtype)
    actions = _expected_actions(agent, _time_steps(candidates))
    by_action = [list(np.flatnonzero(actions == a)) for a in np.unique(actions)]
    assert len(by_action) > 1, f"the policy takes only action {actions[0]} on all candidates"
    chosen = []
    while len(chosen) < BATCH:
        for indices in by_action:
            if indices and len(chosen) < BATCH:
                chosen.append(indices.pop(0))
    return candidates[chosen]


def test_trains_into_the_run_and_exports_a_version(trained):
    name, agent, export_dir, run = trained
    entry = registry.get(name)
    assert agent.frames >= FRAMES
    config = run.read_config()
    assert config["model"] == name and config["env"] == entry.dataset
    assert config["hparams"] == hparams_lib.to_json(dict(entry.hparams))
    assert run.latest_checkpoint() is not None
    assert os.path.isdir(run.log_dir)
    assert export_dir == os.path.join(run.export_base, "1")
    assert tf.saved_model.contains_saved_model(export_dir)
    loaded = tf.saved_model.load(export_dir)
    assert set(entry.signatures) <= set(loaded.signatures)


def test_policy_loads_in_a_fresh_process_with_the_same_actions(trained, observations, tmp_path):
    _, agent, export_dir, _ = trained
    time_steps = _time_steps(observations)
    inputs = _signature_inputs(time_steps)
    outputs = fresh_process.signature_outputs(
        export_dir, {"serving_default": inputs, "action": inputs, "get_train_step": {}}, tmp_path
    )
    expected = _expected_actions(agent, time_steps)
    assert expected.shape == (BATCH,) and len(set(expected)) > 1
    np.testing.assert_array_equal(outputs["serving_default"]["action"], expected)
    np.testing.assert_array_equal(outputs["action"]["action"], expected)
    assert int(outputs["get_train_step"]["int64"]) == agent.frames


def test_policy_is_served_over_grpc(trained, observations, server_factory):  # noqa: F811
    name, agent, _, run = trained
    time_steps = _time_steps(observations)
    server = server_factory(f"--model_name={name}", f"--model_base_path={run.export_base}")
    client = Client(server.address)
    try:
        spec, outputs = client.predict(name, _signature_inputs(time_steps))
    finally:
        client.close()
    assert spec.name == name and spec.version.value == 1
    action_spec = agent.policy().action_spec
    assert outputs["action"].shape == (BATCH,) + tuple(action_spec.shape)
    assert outputs["action"].dtype == action_spec.dtype.as_numpy_dtype
    np.testing.assert_array_equal(outputs["action"], _expected_actions(agent, time_steps))


def test_served_policy_answers_hostile_requests_with_client_statuses(trained):
    """Random and malformed requests to every policy signature get a client's status."""
    name, _, _, run = trained
    hostile_requests.fuzz_model(name, run.export_base)
