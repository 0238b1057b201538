"""Server-side batching, as tensorflow_model_server's ``--enable_batching`` does it.

Concurrent Predict requests for one signature of one model version are merged
into one call of the signature: their inputs are concatenated on axis 0,
padded up to the next allowed batch size (repeating the first row), the
signature runs once, and its outputs are split back on axis 0 to each request
(the padding dropped). The rules follow TF Serving's ``SharedBatchScheduler``
and ``BatchingSession``:

* One :class:`BatchScheduler` per server owns ``num_batch_threads`` threads,
  shared by the :class:`BatchQueue` of every batched signature.
* A request (a *task*) joins the open batch at the tail of its queue when it
  fits within ``max_batch_size`` rows; otherwise it starts a new batch, and
  when ``max_enqueued_batches`` batches already wait it is refused with
  UNAVAILABLE ("The batch scheduling queue to which this task was submitted
  is full ..."). A task of more than ``max_batch_size`` rows is refused with
  INVALID_ARGUMENT.
* A batch runs once it is full, once its first task has waited
  ``batch_timeout_micros``, or once its queue is closed (the version is
  unloaded, the server stops): queued tasks are never dropped.
* Only signatures whose every input and output has a leading dimension of -1
  are batched (:func:`is_batchable`). Tasks share a batch only when their
  inputs agree in dtype and in every dimension but the first (where TF
  Serving would fail the whole merged batch, they go to separate batches).

The parameters are TF Serving's text-format ``BatchingParameters`` file
(``--batching_parameters_file``), for example::

    max_batch_size { value: 32 }
    batch_timeout_micros { value: 1000 }
    num_batch_threads { value: 2 }
    max_enqueued_batches { value: 100 }
    allowed_batch_sizes: 8
    allowed_batch_sizes: 32
"""

import bisect
import collections
import concurrent.futures
import dataclasses
import os
import threading
import time

import grpc
import numpy as np
from absl import logging
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

from serving.errors import ServingError, invalid_argument
from serving.tensor_codec import shape_to_list

_QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"


def _batching_parameters_class():
    """Builds ``tensorflow.serving.BatchingParameters`` (session_bundle_config.proto).

    The ``tensorflow-serving-api`` wheel does not ship that proto, so its
    message is declared here, field for field, in a private descriptor pool.
    """
    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="tfgen/serving/batching_parameters.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    message = file.message_type.add(name="BatchingParameters")
    for name, number, wrapper in (
        ("max_batch_size", 1, "Int64Value"),
        ("batch_timeout_micros", 2, "Int64Value"),
        ("max_enqueued_batches", 3, "Int64Value"),
        ("num_batch_threads", 4, "Int64Value"),
        ("thread_pool_name", 5, "StringValue"),
        ("enable_large_batch_splitting", 8, "BoolValue"),
        ("max_execution_batch_size", 9, "Int64Value"),
    ):
        message.field.add(
            name=name,
            number=number,
            label=field.LABEL_OPTIONAL,
            type=field.TYPE_MESSAGE,
            type_name=f".google.protobuf.{wrapper}",
        )
    message.field.add(
        name="allowed_batch_sizes", number=6, label=field.LABEL_REPEATED, type=field.TYPE_INT64
    )
    message.field.add(
        name="pad_variable_length_inputs",
        number=7,
        label=field.LABEL_OPTIONAL,
        type=field.TYPE_BOOL,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    )


BatchingParameters = _batching_parameters_class()


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """Validated batching parameters; the defaults are TF Serving's.

    Args:
      max_batch_size: most rows in one batch (and in one request).
      batch_timeout_micros: how long the first task of a batch that is not
        full waits for more before the batch runs.
      max_enqueued_batches: most batches waiting per queue (0 means 1, as in
        TF Serving).
      num_batch_threads: threads running batches, shared by all queues.
      allowed_batch_sizes: increasing batch sizes to pad to, the last equal
        to ``max_batch_size``; empty: no padding.
      thread_pool_name: prefix of the batch threads' names.

    Raises:
      ValueError: a value out of range, with what was expected and what was given.
    """

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = os.cpu_count() or 1
    allowed_batch_sizes: tuple = ()
    thread_pool_name: str = "model_server_batch_threads"

    def __post_init__(self):
        for name, low in (
            ("max_batch_size", 1),
            ("batch_timeout_micros", 0),
            ("max_enqueued_batches", 0),
            ("num_batch_threads", 1),
        ):
            value = getattr(self, name)
            if value < low:
                bound = "positive" if low else "non-negative"
                raise ValueError(f"{name} must be {bound}; was {value}")
        sizes = self.allowed_batch_sizes
        if any(s <= 0 for s in sizes) or any(a >= b for a, b in zip(sizes, sizes[1:])):
            raise ValueError(
                "allowed_batch_sizes entries must be positive and monotonically increasing; "
                f"got {list(sizes)}"
            )
        if sizes and sizes[-1] != self.max_batch_size:
            raise ValueError(
                "Last entry in allowed_batch_sizes must match max_batch_size; last entry was "
                f"{sizes[-1]}; expected {self.max_batch_size}"
            )

    def padded_size(self, rows):
        """The smallest allowed batch size holding ``rows`` rows (``rows`` itself if none)."""
        if not rows or not self.allowed_batch_sizes:
            return rows
        return self.allowed_batch_sizes[bisect.bisect_left(self.allowed_batch_sizes, rows)]


def parse_batching_parameters(text):
    """Parses a text-format ``tensorflow.serving.BatchingParameters``.

    Args:
      text: the file's contents; fields left out keep TF Serving's defaults.

    Returns:
      A :class:`BatchingOptions`.
    Raises:
      ValueError: unparsable text, inconsistent values, or an option this
        server does not implement (large batch splitting, padding of
        variable-length inputs).
    """
    proto = BatchingParameters()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as e:
        raise ValueError(f"cannot parse batching parameters: {e}") from None
    if proto.enable_large_batch_splitting.value or proto.pad_variable_length_inputs:
        raise ValueError(
            "enable_large_batch_splitting and pad_variable_length_inputs are not supported; "
            "leave them out (false)"
        )
    values = {
        name: getattr(proto, name).value
        for name in (
            "max_batch_size",
            "batch_timeout_micros",
            "max_enqueued_batches",
            "num_batch_threads",
            "thread_pool_name",
        )
        if proto.HasField(name)
    }
    return BatchingOptions(allowed_batch_sizes=tuple(proto.allowed_batch_sizes), **values)


def load_batching_options(path=""):
    """Reads ``--batching_parameters_file``; TF Serving's defaults when ``path`` is empty.

    Raises:
      OSError: the file cannot be read.
      ValueError: its contents are rejected (the message names the file).
    """
    if not path:
        return BatchingOptions()
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return parse_batching_parameters(text)
    except ValueError as e:
        raise ValueError(f"batching parameters file {path}: {e}") from None


def is_batchable(signature_def):
    """Whether every input and output of a ``SignatureDef`` has a leading dimension of -1."""
    tensors = [*signature_def.inputs.values(), *signature_def.outputs.values()]
    shapes = [shape_to_list(info.tensor_shape) for info in tensors]
    return bool(signature_def.inputs) and all(shape and shape[0] == -1 for shape in shapes)


def _task_rows(inputs):
    """The common 0th-dimension size of a request's inputs (TF Serving's checks and messages)."""
    if not inputs:
        raise invalid_argument("Batching Run() must have at least one input tensor")
    if any(np.ndim(a) == 0 for a in inputs.values()):
        raise invalid_argument("Batching Run() input tensors must have at least one dimension")
    sizes = {len(a) for a in inputs.values()}
    if len(sizes) != 1:
        raise invalid_argument("Batching Run() input tensors must have equal 0th-dimension size")
    return sizes.pop()


def _merge(arrays, padding):
    """Concatenates arrays on axis 0, then repeats the first row ``padding`` times."""
    merged = np.concatenate(arrays)
    if padding:
        merged = np.concatenate([merged, np.repeat(merged[:1], padding, axis=0)])
    return merged


class _Task:
    """One request in a queue: its inputs, its row count and its answer (a Future)."""

    def __init__(self, inputs):
        self.inputs = inputs
        self.rows = _task_rows(inputs)
        # Tasks share a batch only when their inputs concatenate on axis 0.
        self.key = tuple(sorted((k, a.dtype.str, a.shape[1:]) for k, a in inputs.items()))
        self.future = concurrent.futures.Future()


class _Batch:
    def __init__(self, task, now):
        self.tasks = [task]
        self.rows = task.rows
        self.key = task.key
        self.start = now


class BatchQueue:
    """The queue of one batched signature; made by :meth:`BatchScheduler.add_queue`.

    Args:
      scheduler: the :class:`BatchScheduler` whose threads run the batches.
      run: ``run(feeds) -> {output key: array}``, the signature with all its
        outputs; raises :class:`serving.errors.ServingError` on failure.
      name: shown in logs.
    """

    def __init__(self, scheduler, run, name):
        self.name = name
        self._scheduler = scheduler
        self._options = scheduler.options
        self._run = run
        self._max_enqueued_batches = max(1, scheduler.options.max_enqueued_batches)
        self._batches = collections.deque()
        self._closed = False

    def schedule(self, inputs):
        """Queues one request.

        Args:
          inputs: {input key: numpy array}, already checked against the
            signature; every array has the same number of rows.

        Returns:
          A ``concurrent.futures.Future`` of this request's {output key: array},
          or of the :class:`ServingError` the batch failed with. Once the queue
          is closed the request runs at once, on its own.
        Raises:
          ServingError: INVALID_ARGUMENT for inputs of unequal or too many rows,
            UNAVAILABLE when the queue is full.
        """
        task = _Task(inputs)
        if task.rows > self._options.max_batch_size:
            raise invalid_argument(
                f"Task size {task.rows} is larger than maximum input batch size "
                f"{self._options.max_batch_size}"
            )
        with self._scheduler.condition:
            if not self._closed:
                self._enqueue(task)
                self._scheduler.condition.notify_all()
                return task.future
        self.execute([task])
        return task.future

    def close(self):
        """Stops queueing: what is queued still runs, later requests run on their own."""
        with self._scheduler.condition:
            self._closed = True
            self._scheduler.condition.notify_all()

    def _enqueue(self, task):
        tail = self._batches[-1] if self._batches else None
        if (
            tail is not None
            and tail.key == task.key
            and tail.rows + task.rows <= self._options.max_batch_size
        ):
            tail.tasks.append(task)
            tail.rows += task.rows
            return
        if len(self._batches) >= self._max_enqueued_batches:
            raise ServingError(
                grpc.StatusCode.UNAVAILABLE,
                f"{_QUEUE_FULL}; currently {len(self._batches)} batches enqueued and "
                f"max_enqueued_batches is {self._max_enqueued_batches}",
            )
        self._batches.append(_Batch(task, time.monotonic()))

    # Called by the scheduler with its condition held.

    def ready_at(self):
        """When the oldest batch may run (monotonic seconds), or None if the queue is empty."""
        if not self._batches:
            return None
        head = self._batches[0]
        if self._closed or len(self._batches) > 1 or head.rows >= self._options.max_batch_size:
            return head.start
        return head.start + self._options.batch_timeout_micros * 1e-6

    def pop(self):
        """Removes and returns the oldest batch's tasks."""
        return self._batches.popleft().tasks

    @property
    def finished(self):
        """Closed with nothing left to run."""
        return self._closed and not self._batches

    # Called by a batch thread without the condition.

    def execute(self, tasks):
        """Runs ``tasks`` as one batch and answers each of them."""
        try:
            answers = self._run_merged(tasks)
        except ServingError as e:
            if e.code == grpc.StatusCode.INVALID_ARGUMENT and len(tasks) > 1:
                # A signature's input checks refused the batch: run each task on its own,
                # so that one client's bad request fails only that client.
                for task in tasks:
                    self.execute([task])
                return
            error = (e.code, e.message)
        except Exception as e:  # a bug or an unexpected failure: INTERNAL, and keep serving
            logging.exception("batch of %s failed", self.name)
            error = (grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")
        else:
            for task, answer in zip(tasks, answers):
                task.future.set_result(answer)
            return
        for task in tasks:  # every task of the batch gets the batch's error
            task.future.set_exception(ServingError(*error))

    def _run_merged(self, tasks):
        rows = sum(task.rows for task in tasks)
        size = self._options.padded_size(rows)
        feeds = {
            k: _merge([task.inputs[k] for task in tasks], size - rows) for k in tasks[0].inputs
        }
        outputs = self._run(feeds)
        for array in outputs.values():
            if np.ndim(array) == 0:
                raise ServingError(
                    grpc.StatusCode.FAILED_PRECONDITION, "Batched output tensor has 0 dimensions"
                )
            if len(array) != size:
                raise ServingError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "Batched output tensor's 0th dimension does not equal the sum of the 0th "
                    "dimension sizes of the input tensors",
                )
        ends = np.cumsum([task.rows for task in tasks])
        return [
            {k: array[end - task.rows : end] for k, array in outputs.items()}
            for task, end in zip(tasks, ends)
        ]


class BatchScheduler:
    """Threads that run the batches of all the queues of a server.

    Args:
      options: a :class:`BatchingOptions`.
    """

    def __init__(self, options):
        self.options = options
        self.condition = threading.Condition()
        self._queues = []
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{options.thread_pool_name}_{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def add_queue(self, run, name):
        """Returns a new :class:`BatchQueue` for the signature function ``run``."""
        queue = BatchQueue(self, run, name)
        with self.condition:
            self._queues.append(queue)
        return queue

    def stop(self, timeout=None):
        """Closes every queue, runs what is queued, and joins the threads (up to ``timeout`` s)."""
        with self.condition:
            self._stopping = True
            for queue in self._queues:
                queue.close()
            self.condition.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _work(self):
        while True:
            with self.condition:
                found = self._next_batch()
            if found is None:
                return
            queue, tasks = found
            queue.execute(tasks)

    def _next_batch(self):
        """Waits for the batch that has been ready longest; None once stopped and drained."""
        while True:
            self._queues = [q for q in self._queues if not q.finished]
            times = [(q.ready_at(), i) for i, q in enumerate(self._queues)]
            ready = [(at, i) for at, i in times if at is not None]
            if ready:
                at, index = min(ready)
                wait = at - time.monotonic()
                if wait <= 0:
                    queue = self._queues[index]
                    return queue, queue.pop()
            elif self._stopping:
                return None
            else:
                wait = None
            self.condition.wait(wait)
