"""Server-side batching (--enable_batching): the batcher, its parameters, and the server."""

import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.batching import (
    BatchingOptions,
    BatchScheduler,
    is_batchable,
    load_batching_options,
    parse_batching_parameters,
)
from serving.errors import ServingError
from serving.servable import ServableVersion
from tests.serving.conftest import REPO_ROOT, install_version, predict_request

RESULT_TIMEOUT = 60.0
POOL = "test_batch_threads"


class FakeSignature:
    """A signature function: y = 2x, n = len(s); records the feeds of every call.

    ``gate`` holds each call until it is set, so tests can fill a queue while
    the batch thread is busy; ``started`` is set once a call has begun.
    """

    def __init__(self):
        self.calls = []
        self.started = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, feeds):
        self.calls.append(feeds)
        self.started.set()
        assert self.gate.wait(RESULT_TIMEOUT)
        if (feeds["x"] < 0).any():
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "x must be non-negative")
        if (feeds["x"] > 1e6).any():
            raise RuntimeError("boom")
        return {"y": feeds["x"] * 2.0, "n": np.array([len(s) for s in feeds["s"]])}

    def hold(self):
        """Closes the gate and returns once a call is waiting behind it."""
        self.gate.clear()
        self.started.clear()


def task(rows, start=0.0, width=3):
    x = np.arange(start, start + rows * width, dtype=np.float32).reshape(rows, width)
    s = np.array([b"a" * (i + 1) for i in range(rows)], dtype=object)
    return {"x": x, "s": s}


def expected(inputs):
    return {"y": inputs["x"] * 2.0, "n": np.array([len(s) for s in inputs["s"]])}


def assert_answer(answer, inputs):
    want = expected(inputs)
    assert sorted(answer) == sorted(want)
    for key, value in want.items():
        np.testing.assert_array_equal(answer[key], value)


@pytest.fixture
def make_queue():
    """``make_queue(**options) -> (queue, fake signature)``; stops the schedulers afterwards."""
    schedulers = []

    def make(**options):
        scheduler = BatchScheduler(BatchingOptions(thread_pool_name=POOL, **options))
        schedulers.append(scheduler)
        fake = FakeSignature()
        return scheduler.add_queue(fake, "fake"), fake

    yield make
    for scheduler in schedulers:
        scheduler.stop(RESULT_TIMEOUT)


def batch_threads(pool):
    return [t for t in threading.enumerate() if t.name.startswith(pool) and t.is_alive()]


def occupy(queue, fake):
    """Holds the single batch thread in a call of a 1-row task; returns that task's future."""
    fake.hold()
    future = queue.schedule(task(1))
    assert fake.started.wait(RESULT_TIMEOUT)
    return future


def test_merged_answers_equal_unbatched_with_padding_and_splitting(make_queue):
    queue, fake = make_queue(max_batch_size=8, allowed_batch_sizes=(4, 8), num_batch_threads=1)
    first = occupy(queue, fake)
    inputs = [task(1, 10.0), task(2, 20.0), task(3, 30.0)]
    futures = [queue.schedule(i) for i in inputs]  # all wait behind the busy thread
    fake.gate.set()
    assert_answer(first.result(RESULT_TIMEOUT), task(1))
    for future, i in zip(futures, inputs):
        assert_answer(future.result(RESULT_TIMEOUT), i)
    # Two calls: the first task padded from 1 to 4 rows, then the three others (6 rows) to 8.
    assert [len(c["x"]) for c in fake.calls] == [4, 8]
    merged = fake.calls[1]
    np.testing.assert_array_equal(merged["x"][:6], np.concatenate([i["x"] for i in inputs]))
    np.testing.assert_array_equal(merged["x"][6:], np.repeat(merged["x"][:1], 2, axis=0))
    assert list(merged["s"][6:]) == [merged["s"][0]] * 2


def test_tasks_that_cannot_concatenate_go_to_separate_batches(make_queue):
    queue, fake = make_queue(max_batch_size=8, num_batch_threads=1)
    first = occupy(queue, fake)
    inputs = [task(2, width=3), task(1, width=2), task(1, width=2)]
    futures = [queue.schedule(i) for i in inputs]
    fake.gate.set()
    first.result(RESULT_TIMEOUT)
    for future, i in zip(futures, inputs):
        assert_answer(future.result(RESULT_TIMEOUT), i)
    assert [c["x"].shape for c in fake.calls] == [(1, 3), (2, 3), (2, 2)]


def test_a_batch_waits_for_its_timeout_unless_it_fills_up(make_queue):
    queue, fake = make_queue(max_batch_size=3, batch_timeout_micros=600_000_000)
    futures = [queue.schedule(task(1)), queue.schedule(task(2, 5.0))]  # 3 rows: full
    assert_answer(futures[1].result(RESULT_TIMEOUT), task(2, 5.0))
    assert [len(c["x"]) for c in fake.calls] == [3]


def test_a_partial_batch_runs_once_its_timeout_passes(make_queue):
    queue, fake = make_queue(max_batch_size=8, batch_timeout_micros=1000)
    assert_answer(queue.schedule(task(2)).result(RESULT_TIMEOUT), task(2))
    assert [len(c["x"]) for c in fake.calls] == [2]


def test_full_queue_answers_unavailable(make_queue):
    queue, fake = make_queue(max_batch_size=2, max_enqueued_batches=1, num_batch_threads=1)
    running = occupy(queue, fake)
    waiting = queue.schedule(task(2, 7.0))  # the one batch allowed to wait
    with pytest.raises(ServingError) as info:
        queue.schedule(task(1))
    assert info.value.code == grpc.StatusCode.UNAVAILABLE
    assert info.value.message == (
        "The batch scheduling queue to which this task was submitted is full; currently 1 "
        "batches enqueued and max_enqueued_batches is 1"
    )
    fake.gate.set()
    running.result(RESULT_TIMEOUT)
    assert_answer(waiting.result(RESULT_TIMEOUT), task(2, 7.0))
    assert_answer(queue.schedule(task(1)).result(RESULT_TIMEOUT), task(1))


def _batch_with_a_bad_task(make_queue, bad_x):
    """Runs a good 2-row task and a bad 1-row task in one batch; returns their futures."""
    queue, fake = make_queue(max_batch_size=8, num_batch_threads=1)
    first = occupy(queue, fake)
    bad = task(1)
    bad["x"][0, 0] = bad_x
    futures = [queue.schedule(task(2)), queue.schedule(bad)]
    fake.gate.set()
    first.result(RESULT_TIMEOUT)
    return queue, fake, futures


def test_a_refused_input_fails_only_its_own_request(make_queue):
    queue, fake, (good, bad) = _batch_with_a_bad_task(make_queue, -1.0)
    assert_answer(good.result(RESULT_TIMEOUT), task(2))
    error = bad.exception(RESULT_TIMEOUT)
    assert isinstance(error, ServingError)
    assert (error.code, error.message) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "x must be non-negative",
    )
    # The merged call, then each task on its own to find the refused one.
    assert [len(c["x"]) for c in fake.calls] == [1, 3, 2, 1]


def test_an_unexpected_error_in_a_batch_reaches_every_request_in_it(make_queue):
    queue, _, futures = _batch_with_a_bad_task(make_queue, 1e7)
    for future in futures:
        error = future.exception(RESULT_TIMEOUT)
        assert isinstance(error, ServingError)
        assert (error.code, error.message) == (grpc.StatusCode.INTERNAL, "RuntimeError: boom")
    assert_answer(queue.schedule(task(1)).result(RESULT_TIMEOUT), task(1))  # still serving


@pytest.mark.parametrize(
    "inputs, message",
    [
        (task(9), "Task size 9 is larger than maximum input batch size 8"),
        (
            {"x": task(2)["x"], "s": task(3)["s"]},
            "Batching Run() input tensors must have equal 0th-dimension size",
        ),
    ],
    ids=["too-large", "unequal-rows"],
)
def test_bad_tasks_are_refused_before_queueing(make_queue, inputs, message):
    queue, fake = make_queue(max_batch_size=8)
    with pytest.raises(ServingError) as info:
        queue.schedule(inputs)
    assert (info.value.code, info.value.message) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    assert fake.calls == []


def test_closing_runs_what_is_queued_and_stopping_ends_the_threads():
    scheduler = BatchScheduler(
        BatchingOptions(max_batch_size=8, batch_timeout_micros=600_000_000, thread_pool_name=POOL)
    )
    fake = FakeSignature()
    queue = scheduler.add_queue(fake, "fake")
    waiting = queue.schedule(task(1))  # would wait 10 minutes for more rows
    queue.close()
    assert_answer(waiting.result(RESULT_TIMEOUT), task(1))
    late = queue.schedule(task(2))  # a closed queue runs a request at once, on its own
    assert late.done()
    assert_answer(late.result(), task(2))
    other = scheduler.add_queue(fake, "other")
    pending = other.schedule(task(3))
    scheduler.stop(RESULT_TIMEOUT)
    assert_answer(pending.result(0), task(3))
    assert not batch_threads(POOL)


def test_stopping_a_scheduler_without_queues_ends_its_threads():
    scheduler = BatchScheduler(BatchingOptions(num_batch_threads=2, thread_pool_name="idle_pool"))
    assert len(batch_threads("idle_pool")) == 2
    scheduler.stop(RESULT_TIMEOUT)
    assert not batch_threads("idle_pool")


# -- parameters ----------------------------------------------------------------

FULL_PARAMETERS = """
max_batch_size { value: 32 }
batch_timeout_micros { value: 500 }
max_enqueued_batches { value: 7 }
num_batch_threads { value: 3 }
thread_pool_name { value: "pool" }
allowed_batch_sizes: 8
allowed_batch_sizes: 16
allowed_batch_sizes: 32
"""


def test_parameters_file_is_parsed_and_defaults_are_tf_servings():
    assert parse_batching_parameters(FULL_PARAMETERS) == BatchingOptions(
        max_batch_size=32,
        batch_timeout_micros=500,
        max_enqueued_batches=7,
        num_batch_threads=3,
        thread_pool_name="pool",
        allowed_batch_sizes=(8, 16, 32),
    )
    defaults = load_batching_options("")
    assert parse_batching_parameters("") == defaults
    assert (defaults.max_batch_size, defaults.batch_timeout_micros) == (1000, 0)
    assert (defaults.max_enqueued_batches, defaults.num_batch_threads) == (10, os.cpu_count())
    options = parse_batching_parameters(FULL_PARAMETERS)
    assert [options.padded_size(n) for n in (0, 1, 8, 9, 32)] == [0, 8, 8, 16, 32]
    assert defaults.padded_size(5) == 5


@pytest.mark.parametrize(
    "text, message",
    [
        ("max_batch_size: 3", "cannot parse batching parameters"),
        ("max_batch_sizes { value: 3 }", "has no field named"),
        (
            "max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 2 "
            "allowed_batch_sizes: 8",
            "allowed_batch_sizes entries must be positive and monotonically increasing; "
            "got [4, 2, 8]",
        ),
        (
            "max_batch_size { value: 8 } allowed_batch_sizes: 4",
            "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 4; "
            "expected 8",
        ),
        ("allowed_batch_sizes: 32", "last entry was 32; expected 1000"),
        ("max_batch_size { value: 0 }", "max_batch_size must be positive; was 0"),
        ("num_batch_threads { value: 0 }", "num_batch_threads must be positive; was 0"),
        ("batch_timeout_micros { value: -1 }", "batch_timeout_micros must be non-negative"),
        ("enable_large_batch_splitting { value: true }", "are not supported"),
    ],
)
def test_bad_parameters_are_rejected(text, message):
    with pytest.raises(ValueError) as info:
        parse_batching_parameters(text)
    assert message in str(info.value)


def test_bad_parameters_file_stops_the_server_at_start_up(tmp_path):
    path = tmp_path / "batching.txt"
    path.write_text("max_batch_size { value: 8 } allowed_batch_sizes: 4\n")
    with pytest.raises(ValueError, match=f"batching parameters file {path}: Last entry"):
        load_batching_options(str(path))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "serving",
            "--port=0",
            f"--model_base_path={tmp_path}",
            "--enable_batching",
            f"--batching_parameters_file={path}",
        ],
        cwd=REPO_ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert f"tfgen-serve: error: batching parameters file {path}: Last entry" in result.stderr


# -- signatures ------------------------------------------------------------------


def signature(inputs, outputs):
    sig = meta_graph_pb2.SignatureDef()
    for tensors, shapes in ((sig.inputs, inputs), (sig.outputs, outputs)):
        for i, shape in enumerate(shapes):
            info = tensors[f"t{i}"]
            if shape is None:
                info.tensor_shape.unknown_rank = True
            for size in shape or ():
                info.tensor_shape.dim.add(size=size)
    return sig


@pytest.mark.parametrize(
    "inputs, outputs, batchable",
    [
        ([[-1, 3], [-1]], [[-1]], True),
        ([[-1, 3], []], [[-1]], False),  # a scalar seed input
        ([[-1, 3]], [[2, 3]], False),
        ([[-1, 3]], [None], False),
        ([], [[-1]], False),
    ],
)
def test_only_signatures_with_a_leading_batch_dimension_are_batched(inputs, outputs, batchable):
    assert is_batchable(signature(inputs, outputs)) is batchable


class _SamplerModule(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def double(self, x):
        return {"y": 2.0 * x, "total": tf.reduce_sum(x, axis=1)}

    @tf.function(
        input_signature=[tf.TensorSpec([], tf.int64, name="seed"), tf.TensorSpec([], tf.int32)]
    )
    def sample(self, seed, num_samples):
        values = tf.random.stateless_uniform([num_samples], [seed, 0])
        return {"samples": values}


@pytest.fixture(scope="module")
def sampler_path(tmp_path_factory):
    module = _SamplerModule()
    path = str(tmp_path_factory.mktemp("sampler") / "1")
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.double, "sample": module.sample}
    )
    return path


def test_servable_batches_with_per_request_output_filters(sampler_path):
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=16, thread_pool_name=POOL))
    try:
        batched = ServableVersion("m", 1, sampler_path, scheduler)
        plain = ServableVersion("m", 1, sampler_path)
        requests = [
            ({"x": np.full((n, 2), n, np.float32)}, output_filter)
            for n in (1, 2, 3, 4)
            for output_filter in ([], ["y"], ["total"], ["total", "y"])
        ]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda r: batched.predict("", r[0], output_filter=r[1]), requests)
            )
        for (inputs, output_filter), (key, outputs) in zip(requests, answers):
            want = plain.predict("", inputs, output_filter=output_filter)[1]
            assert key == "serving_default" and list(outputs) == list(want)
            for name, value in want.items():
                np.testing.assert_array_equal(outputs[name], value)
        # The sampling signature (scalar inputs) is not batched: it runs as before.
        sample = {"seed": np.array(3, np.int64), "num_samples": np.array(4, np.int32)}
        got = batched.predict("sample", sample)[1]["samples"]
        np.testing.assert_array_equal(got, plain.predict("sample", sample)[1]["samples"])
        batched.close()  # unloaded: later requests run on their own
        np.testing.assert_array_equal(
            batched.predict("", {"x": np.ones((2, 2), np.float32)})[1]["y"], 2.0
        )
    finally:
        scheduler.stop(RESULT_TIMEOUT)


# -- end to end ------------------------------------------------------------------

SERVER_PARAMETERS = """
max_batch_size { value: 8 }
batch_timeout_micros { value: 2000 }
num_batch_threads { value: 1 }
max_enqueued_batches { value: 1000 }
allowed_batch_sizes: 4
allowed_batch_sizes: 8
"""


def _request(i):
    """The i-th client request: (signature key, inputs), 1 to 3 rows, default or "second"."""
    rows = 1 + i % 3
    if i % 2:
        return "serving_default", {"x": np.full((rows, 3), i, np.float32)}
    strings = np.array([b"s" * (i + j) for j in range(rows)], dtype=object)
    return "second", {"a": np.arange(i, i + rows, dtype=np.int64), "s": strings}


def test_server_answers_concurrent_clients_as_unbatched(tmp_path, saved_models, server_factory):
    base = tmp_path / "toy"
    base.mkdir()
    install_version(str(base), 1, saved_models[1])
    parameters = tmp_path / "batching.txt"
    parameters.write_text(SERVER_PARAMETERS)
    server = server_factory(
        "--model_name=toy",
        f"--model_base_path={base}",
        "--enable_batching",
        f"--batching_parameters_file={parameters}",
        rest=True,
    )
    unbatched = tf.saved_model.load(saved_models[1]).signatures
    channel = server.channel()
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def grpc_client(i):
        key, inputs = _request(i)
        response = stub.Predict(predict_request(inputs, signature_name=key), timeout=60)
        return key, inputs, {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def rest_client(i):
        key, inputs = _request(2 * i + 1)
        body = json.dumps({"instances": inputs["x"].tolist()}).encode()
        with urllib.request.urlopen(server.url("/v1/models/toy:predict"), body, 60) as response:
            predictions = json.load(response)["predictions"]
        return key, inputs, {"y": np.array(predictions, np.float32)}

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(grpc_client, i) for i in range(48)]
        futures += [pool.submit(rest_client, i) for i in range(8)]
        answers = [f.result() for f in futures]
    for key, inputs, got in answers:
        want = unbatched[key](**{k: tf.constant(v) for k, v in inputs.items()})
        assert sorted(got) == sorted(want)
        for name, value in want.items():
            np.testing.assert_array_equal(got[name], value.numpy())
    # The requests go through the batcher: more rows than max_batch_size are refused.
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(predict_request({"x": np.zeros((9, 3), np.float32)}), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "Task size 9 is larger than maximum input batch size 8"
    channel.close()
