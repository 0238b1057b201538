"""ByteNet (Kalchbrenner et al. 2016, arXiv 1610.10099): a byte language model and a translator.

Both models end in the ByteNet target network (the "ByteNet decoder"): the
embedding of the previous byte (a tensor of `2d` channels per step, Sec. 3.3;
zeros at the first step), causal residual blocks with dilations 1, 2, 4, 8,
16 repeated in sets (`tfgen.layers.bytenet_block.ByteNetStack`), then "one
more convolution and ReLU followed by a convolution and a final softmax
layer" (Sec. 3.6) over 256 byte values.

- `ByteNetLM` (`bytenet_lm`, on `text`) is the target network alone with
  Multiplicative Unit blocks, the paper's character-level language model
  (Sec. 5; defaults: d = 512, k = 3, 6 sets of 5 blocks). Units: `log_prob`
  in nats per sequence, the metric `bits_per_char`.
- `ByteNetTranslator` (`bytenet_translate`, on `parallel_text`) stacks the
  target network on a source network of non-causal blocks (Sec. 3.1;
  defaults: d = 800, k = 3, 30 ReLU blocks in each network, Sec. 6). The
  source bytes, padded with `PAD` to the extended length |t^| = a|s| + b
  (Sec. 3.2, a = 1.2, b = 0), give a representation of |t^| steps; the
  target network's input at step t is the representation at t, zero beyond
  |t^|, plus the embedding of target byte t - 1 (both have `2d` channels).
  Dynamic unfolding: a translation runs step by step over the
  representation until it emits the `END` symbol, here at step |t^| at the
  latest (the paper lets it run on; the data keep every target within |t^|
  bytes), so it has at most |t^| bytes. Units:
  `log_prob` in nats per target, the metric `bits_per_byte` (per target
  symbol, `END` included); `exact_match` gives the accuracy of greedy
  translations.

Generation keeps a queue per causal convolution (Paine et al. 2016, arXiv
1611.09482), one step per block per new byte, inside a `tf.while_loop`;
`method="naive"` re-runs the target network on the whole prefix at every
step instead. Each byte is drawn by inverting the CDF at uniform noise from
`tfgen.noise`, so both methods, with or without XLA, give the same bytes for
the same seed; temperature 0 takes the most likely byte.
"""

import math

import tensorflow as tf

from tfgen import noise, registry
from tfgen.checks import check_choice, check_float, check_int
from tfgen.data import parallel_text
from tfgen.data.parallel_text import END, PAD
from tfgen.layers.bytenet_block import PAPER_DILATIONS, ByteNetStack
from tfgen.models.base import GenerativeModel
from tfgen.signatures import signature_function

METHODS = ("fast", "naive")


def _check_symbols(value, name):
    """int32 [batch, time] byte values, or a TypeError/ValueError."""
    value = tf.convert_to_tensor(value)
    if value.dtype.is_floating or value.dtype == tf.bool:
        raise TypeError(f"{name}: expected integer byte values, got {value.dtype.name}.")
    if value.shape.rank != 2:
        raise ValueError(f"{name}: expected shape [batch, time], got {value.shape}.")
    return tf.cast(value, tf.int32)


def _check_temperature(temperature):
    return check_float(temperature, "temperature", 0.0)


def _draw_seed(seed):
    return int(tf.random.uniform([], 0, 2**31 - 1, tf.int32)) if seed is None else seed


class ByteNetDecoderModel(GenerativeModel):
    """The target network, its output layers and its generation loops, shared by both models.

    Subclasses call `build_target_network` in their constructor.
    """

    def build_target_network(
        self, num_categories, hidden_units, kernel_size, dilation_rates, num_sets, multiplicative
    ):
        self.num_categories = check_int(num_categories, "num_categories", 3)
        self.hidden_units = check_int(hidden_units, "hidden_units")
        self.target_embedding = tf.keras.layers.Embedding(
            self.num_categories, 2 * self.hidden_units, name="target_embedding"
        )
        self.target_network = ByteNetStack(
            self.hidden_units,
            kernel_size,
            dilation_rates,
            num_sets,
            causal=True,
            multiplicative=multiplicative,
            name="target_network",
        )
        self.output_hidden = tf.keras.layers.Dense(
            self.hidden_units, activation="relu", name="output_hidden"
        )
        self.output_projection = tf.keras.layers.Dense(
            self.num_categories, name="output_projection"
        )
        object.__setattr__(self, "_loops", {})  # compiled loops, not tracked by Keras

    @property
    def receptive_field(self):
        """Bytes a prediction sees: `(kernel_size - 1) * sum(dilations) + 1` (the last is t - 1)."""
        return self.target_network.receptive_field

    # ---------------------------------------------------------------- network
    def shifted_embedding(self, symbols):
        """1610.10099 Sec. 3.3: the embedding of symbol t - 1 at step t, zeros at step 0."""
        embedded = self.target_embedding(symbols)
        return tf.pad(embedded[:, :-1], [[0, 0], [1, 0], [0, 0]])

    def _logits(self, hidden):
        # 1610.10099 Sec. 3.6: one more convolution and ReLU, a convolution, a softmax.
        return self.output_projection(self.output_hidden(hidden))

    def decode(self, inputs):
        """Logits [batch, time, num_categories] of the target network on inputs [.., 2d]."""
        return self._logits(self.target_network(inputs))

    # ------------------------------------------------------------- generation
    @staticmethod
    def _choose(logits, u, temperature):
        """The byte at noise u [batch]: sampled at `temperature`, the most likely at 0."""
        scale = tf.where(temperature > 0, temperature, 1.0)
        sampled = noise.categorical_from_uniform(logits / scale, u)
        return tf.where(temperature > 0, sampled, tf.argmax(logits, -1, output_type=tf.int32))

    @staticmethod
    def _advance(t, symbol, done, budget, end):
        """(symbol at step t, done): PAD once done; done after `budget` symbols, the last `end`.

        With `end` None, a sequence is done after `budget` symbols; else the
        symbol of step `budget - 1` is `end`, and a sequence is done at `end`.
        """
        if end is None:
            stop = t + 1 >= budget
        else:
            symbol = tf.where(t + 1 >= budget, tf.constant(end), symbol)
            stop = tf.equal(symbol, end)
        return tf.where(done, tf.constant(PAD), symbol), done | stop

    def _fast_loop(self, condition, uniform, temperature, budget, end):
        """Fast generation (1611.09482): one `step` of every block per symbol.

        Args:
          condition: float [batch, >= steps, 2d] added to the inputs, or None.
          uniform: float [steps, batch] uniform noise.
          temperature: float scalar.
          budget: int32 [batch], the most symbols of each sequence.
          end: int, the symbol that ends a sequence (the last, at the latest), or None.

        Returns:
          int32 [batch, steps], PAD after a sequence stops.
        """
        steps, batch = tf.shape(uniform)[0], tf.shape(uniform)[1]

        def body(t, done, previous, queues, symbols):
            inputs = previous if condition is None else previous + condition[:, t]
            hidden, queues = self.target_network.step(inputs, queues, t)
            symbol = self._choose(self._logits(hidden), uniform[t], temperature)
            symbol, done = self._advance(t, symbol, done, budget, end)
            symbols = tf.tensor_scatter_nd_update(symbols, [[t]], symbol[None])
            return t + 1, done, self.target_embedding(symbol), queues, symbols

        start = tf.zeros(tf.stack([batch, 2 * self.hidden_units]))  # step 0 sees no byte
        loop_vars = (
            tf.constant(0),
            budget <= 0,
            start,
            self.target_network.initial_queues(batch),
            tf.fill(tf.stack([steps, batch]), PAD),
        )
        *_, symbols = tf.while_loop(
            lambda t, done, *_: (t < steps) & ~tf.reduce_all(done), body, loop_vars
        )
        return tf.transpose(symbols)

    def _naive_loop(self, condition, uniform, temperature, budget, end):
        """Naive generation: the target network on the whole prefix at every step."""
        steps, batch = tf.shape(uniform)[0], tf.shape(uniform)[1]

        def body(t, done, symbols):
            # Symbols 0 .. t - 1 (the placeholder at t is shifted out).
            inputs = self.shifted_embedding(tf.transpose(symbols[: t + 1]))
            if condition is not None:
                inputs += condition[:, : t + 1]
            symbol = self._choose(self.decode(inputs)[:, t], uniform[t], temperature)
            symbol, done = self._advance(t, symbol, done, budget, end)
            return t + 1, done, tf.tensor_scatter_nd_update(symbols, [[t]], symbol[None])

        loop_vars = (tf.constant(0), budget <= 0, tf.fill(tf.stack([steps, batch]), PAD))
        *_, symbols = tf.while_loop(
            lambda t, done, *_: (t < steps) & ~tf.reduce_all(done), body, loop_vars
        )
        return tf.transpose(symbols)

    def _loop(self, method, jit_compile):
        check_choice(method, "method", METHODS)
        loop = self._fast_loop if method == "fast" else self._naive_loop
        if not jit_compile:
            return loop
        if method == "naive":
            raise ValueError(
                "jit_compile: expected False for method='naive' (its growing prefix has a "
                "dynamic shape), got True."
            )
        if method not in self._loops:
            self._loops[method] = tf.function(loop, jit_compile=True, autograph=False)
        return self._loops[method]

    def _compiled(self, key, fn):
        """`tf.function(fn)`, traced once per `key` (the Python arguments it closes over)."""
        if key not in self._loops:
            self._loops[key] = tf.function(fn, autograph=False, reduce_retracing=True)
        return self._loops[key]


def _lm_data_hparams(info):
    return {"seq_len": info.features["tokens"].shape[0], "num_categories": info.num_categories}


@registry.register(
    "bytenet_lm",
    dataset="text",
    data_hparams=_lm_data_hparams,
    signatures=("serving_default", "log_prob", "sample"),
)
class ByteNetLM(ByteNetDecoderModel):
    """The ByteNet decoder as a byte-level language model (1610.10099 Sec. 5).

    Defaults are the paper's enwik8 model: d = 512, masked kernels of size
    3, 30 residual multiplicative blocks in 6 sets of dilations 1, 2, 4, 8,
    16, here on the bundled `text` (256 byte values).

    Args:
      hidden_units: int d; the residual stream has `2d` channels.
      kernel_size: int k of the masked convolutions.
      dilation_rates: ints, the dilations of one set of blocks.
      num_sets: int, repetitions of the set.
      multiplicative: bool, Multiplicative Unit blocks (Fig. 3 right; False:
        ReLU blocks, Fig. 3 left).
      seq_len: int, bytes per sequence of `example_features` (the model
        takes any length; set from the dataset).
      num_categories: int, byte values (256).

    Features are dicts with `tokens` int32 [B, T]; calling the model gives
    the logits [B, T, num_categories] of p(x_t | x_<t).
    """

    metric_names = ("bits_per_char",)

    def __init__(
        self,
        hidden_units=512,
        kernel_size=3,
        dilation_rates=PAPER_DILATIONS,
        num_sets=6,
        multiplicative=True,
        seq_len=128,
        num_categories=256,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.seq_len = check_int(seq_len, "seq_len")
        self.build_target_network(
            num_categories, hidden_units, kernel_size, dilation_rates, num_sets, multiplicative
        )

    def _tokens(self, features):
        if not isinstance(features, dict) or "tokens" not in features:
            raise ValueError(f"features: expected a dict with 'tokens', got {features!r:.80}.")
        return _check_symbols(features["tokens"], "tokens")

    def call(self, features, training=False):
        return self.decode(self.shifted_embedding(self._tokens(features)))

    def _log_probs(self, features):
        """log p(x_t | x_<t) [B, T] in nats."""
        tokens = self._tokens(features)
        return -tf.nn.sparse_softmax_cross_entropy_with_logits(tokens, self(features))

    def compute_losses(self, features, training=False):
        nats = -tf.reduce_sum(self._log_probs(features), axis=-1)
        length = tf.cast(tf.shape(self._tokens(features))[1], tf.float32)
        return tf.reduce_mean(nats) / length, {"bits_per_char": nats / (length * math.log(2.0))}

    def log_prob(self, tokens):
        """log p(tokens) [B] in nats, of int tokens [B, T] (or a feature dict)."""
        features = tokens if isinstance(tokens, dict) else {"tokens": tokens}
        return tf.reduce_sum(self._log_probs(features), axis=-1)

    def _generate(self, num_samples, length, seed, temperature, jit_compile=False, method="fast"):
        uniform = noise.uniform_from_seed(tf.stack([length, num_samples]), seed)
        budget = tf.fill(tf.reshape(num_samples, [1]), length)
        return self._loop(method, jit_compile)(None, uniform, temperature, budget, None)

    def sample(
        self, num_samples, length, seed=None, temperature=1.0, jit_compile=False, method="fast"
    ):
        """Generates bytes int32 [num_samples, length].

        Args:
          num_samples: int, sequences to generate.
          length: int, bytes per sequence.
          seed: int; the same seed gives the same bytes, whichever `method`
            and `jit_compile`. None draws one.
          temperature: float >= 0 dividing the logits; 0 takes the most
            likely byte.
          jit_compile: compile the generation loop with XLA.
          method: "fast" (queues, one step per block per byte) or "naive"
            (the whole network on the growing prefix; plain graph only).
        """
        check_int(num_samples, "num_samples")
        check_int(length, "length")
        temperature = _check_temperature(temperature)
        seed = _draw_seed(seed)
        self.build_example()
        key = ("sample", bool(jit_compile), check_choice(method, "method", METHODS))
        generate = self._compiled(key, lambda *args: self._generate(*args, *key[1:]))
        return generate(
            tf.constant(num_samples, tf.int32),
            tf.constant(length, tf.int32),
            tf.constant(seed, tf.int64),
            tf.constant(temperature, tf.float32),
        )

    def example_features(self, batch_size=2, seed=0):
        key = tf.constant([seed, 0], tf.int64)
        shape = [batch_size, self.seq_len]
        return {"tokens": tf.random.stateless_uniform(shape, key, 0, self.num_categories, tf.int32)}

    def signatures(self, jit_compile=False):
        """`serving_default` and `log_prob` (tokens -> nats, bits per char), and `sample`.

        Args:
          jit_compile: compile the sampling loop with XLA (else a plain graph
            while loop that any TF Serving build runs).
        """
        self.build_example()

        def density(tokens):
            log_prob = self.log_prob(tokens)
            length = tf.cast(tf.shape(tokens)[1], tf.float32)
            return {"log_prob": log_prob, "bits_per_char": -log_prob / (length * math.log(2.0))}

        def sample(num_samples, length, temperature, seed):
            return {"tokens": self._generate(num_samples, length, seed, temperature, jit_compile)}

        density_specs = [tf.TensorSpec([None, None], tf.int32, name="tokens")]
        sample_specs = [
            tf.TensorSpec([], tf.int32, name="num_samples"),
            tf.TensorSpec([], tf.int32, name="length"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ]
        vocabulary = {"tokens": (0, self.num_categories - 1)}
        return {
            "serving_default": signature_function(density, density_specs, vocabulary),
            "log_prob": signature_function(density, density_specs, vocabulary),
            "sample": signature_function(sample, sample_specs),
        }


def _translation_data_hparams(info):
    return {
        "source_len": info.features["source"].shape[0],
        "target_len": info.features["target"].shape[0],
        "num_categories": info.num_categories,
    }


@registry.register(
    "bytenet_translate",
    dataset="parallel_text",
    data_hparams=_translation_data_hparams,
    signatures=("serving_default", "log_prob", "translate"),
)
class ByteNetTranslator(ByteNetDecoderModel):
    """ByteNet: a target network stacked on a source network, with dynamic unfolding.

    Defaults are the paper's English-German model (1610.10099 Sec. 6): d =
    800, kernels of size 3, 30 ReLU residual blocks (6 sets of dilations 1,
    2, 4, 8, 16) in each network, a = 1.2, b = 0; here on `parallel_text`.

    Args:
      hidden_units: int d; both networks carry `2d` channels.
      kernel_size: int k of the source and the (masked) target convolutions.
      dilation_rates: ints, the dilations of one set of blocks.
      num_sets: int, repetitions of the set, in each network.
      multiplicative: bool, Multiplicative Unit blocks in both networks
        (the paper's translator has ReLU blocks).
      unfolding_a, unfolding_b: floats a > 0 and b of the extended length
        |t^| = a|s| + b (1610.10099 Sec. 3.2), rounded down: the most target
        bytes a source of |s| bytes gets (then `END`).
      source_len, target_len: ints, the widths of `example_features` (set
        from the dataset; the model takes any widths).
      num_categories: int, symbol values (256 bytes, `PAD` and `END` among
        them).

    Features are dicts with `source` int32 [B, S] (bytes, then `PAD`) and
    `target` int32 [B, T] (bytes, `END`, then `PAD`); calling the model gives
    the logits [B, T, num_categories] of p(t_i | t_<i, s).
    """

    metric_names = ("bits_per_byte",)

    def __init__(
        self,
        hidden_units=800,
        kernel_size=3,
        dilation_rates=PAPER_DILATIONS,
        num_sets=6,
        multiplicative=False,
        unfolding_a=1.2,
        unfolding_b=0.0,
        source_len=64,
        target_len=78,
        num_categories=256,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.unfolding_a = check_float(unfolding_a, "unfolding_a", 0.0, low_open=True)
        self.unfolding_b = check_float(unfolding_b, "unfolding_b")
        self.source_len = check_int(source_len, "source_len")
        self.target_len = check_int(target_len, "target_len")
        self.build_target_network(
            num_categories, hidden_units, kernel_size, dilation_rates, num_sets, multiplicative
        )
        self.source_embedding = tf.keras.layers.Embedding(
            self.num_categories, 2 * self.hidden_units, name="source_embedding"
        )
        self.source_network = ByteNetStack(
            self.hidden_units,
            kernel_size,
            dilation_rates,
            num_sets,
            causal=False,
            multiplicative=multiplicative,
            name="source_network",
        )

    # ----------------------------------------------------------------- inputs
    def _features(self, features):
        if not isinstance(features, dict) or not {"source", "target"} <= set(features):
            raise ValueError(
                f"features: expected a dict with 'source' and 'target', got {features!r:.80}."
            )
        return _check_symbols(features["source"], "source"), _check_symbols(
            features["target"], "target"
        )

    def _unfolded(self, length):
        """1610.10099 Sec. 3.2: floor(a * length + b), at least 0, int32."""
        length = tf.cast(length, tf.float32)
        return tf.maximum(
            tf.cast(tf.floor(self.unfolding_a * length + self.unfolding_b), tf.int32), 0
        )

    def extended_lengths(self, source):
        """|t^| = a|s| + b (rounded down) [B] of int sources [B, S], |s| their non-PAD bytes."""
        source = _check_symbols(source, "source")
        return self._unfolded(tf.reduce_sum(tf.cast(source != PAD, tf.int32), axis=-1))

    # ---------------------------------------------------------------- network
    def source_representation(self, source, length):
        """The source network's output [B, length, 2d], zero from step |t^| of each example on.

        The source is padded with `PAD` to its extended length |t^|
        (1610.10099 Sec. 3.2); every block reads zeros beyond it, so a
        sentence's representation does not depend on the padding of its batch.
        """
        source = _check_symbols(source, "source")
        width = tf.maximum(tf.shape(source)[1], length)
        padded = tf.pad(source, [[0, 0], [0, width - tf.shape(source)[1]]], constant_values=PAD)
        mask = tf.sequence_mask(self.extended_lengths(source), width)
        return self.source_network(self.source_embedding(padded), sequence_mask=mask)[:, :length]

    def call(self, features, training=False):
        source, target = self._features(features)
        # 1610.10099 Sec. 3.1: the target network stacked on the source representation.
        representation = self.source_representation(source, tf.shape(target)[1])
        return self.decode(representation + self.shifted_embedding(target))

    def _target_nats(self, features):
        """(nats [B], symbols [B]) of the targets, `END` counted, `PAD` not."""
        target = self._features(features)[1]
        weights = tf.cast(target != PAD, tf.float32)
        nats = tf.nn.sparse_softmax_cross_entropy_with_logits(target, self(features))
        return tf.reduce_sum(weights * nats, -1), tf.reduce_sum(weights, -1)

    def compute_losses(self, features, training=False):
        nats, count = self._target_nats(features)
        loss = tf.reduce_sum(nats) / tf.maximum(tf.reduce_sum(count), 1.0)  # nats per symbol
        return loss, {"bits_per_byte": nats / (tf.maximum(count, 1.0) * math.log(2.0))}

    def log_prob(self, source, target=None):
        """log p(target | source) [B] in nats (args: int arrays, or one feature dict)."""
        features = source if isinstance(source, dict) else {"source": source, "target": target}
        return -self._target_nats(features)[0]

    # ------------------------------------------------------------ translation
    def _translate(self, source, seed, temperature, jit_compile=False, method="fast"):
        """Dynamic unfolding (Sec. 3.2): symbols int32 [B, floor(a S + b) + 1]."""
        steps = self._unfolded(tf.shape(source)[1]) + 1
        representation = self.source_representation(source, steps)
        uniform = noise.uniform_from_seed(tf.stack([steps, tf.shape(source)[0]]), seed)
        budget = self.extended_lengths(source) + 1  # at most |t^| bytes, then END
        loop = self._loop(method, jit_compile)
        return loop(representation, uniform, temperature, budget, END)

    def translate(self, source, temperature=0.0, seed=None, jit_compile=False, method="fast"):
        """Translates int sources [B, S] (bytes, then `PAD`) into int32 targets [B, T].

        T = floor(a S + b) + 1. Each row holds the translation's bytes, then
        `END`, then `PAD`: at most |t^| bytes, as the unfolding of a source
        ends with `END` at step |t^| if it has not ended before.

        Args:
          source: int [B, S].
          temperature: float >= 0; 0 (greedy) takes the most likely byte.
          seed: int, for sampling (temperature > 0); None draws one.
          jit_compile: compile the unfolding loop with XLA.
          method: "fast" (queues) or "naive" (whole prefix at every step).
        """
        source = _check_symbols(source, "source")
        temperature = _check_temperature(temperature)
        seed = _draw_seed(seed)
        self.build_example()
        key = ("translate", bool(jit_compile), check_choice(method, "method", METHODS))
        translate = self._compiled(key, lambda *args: self._translate(*args, *key[1:]))
        return translate(source, tf.constant(seed, tf.int64), tf.constant(temperature))

    def exact_match(self, features, jit_compile=False):
        """1.0 where the greedy translation equals the target (through `END`), else 0.0, [B]."""
        source, target = self._features(features)
        translation = self.translate(source, jit_compile=jit_compile)
        width = max(translation.shape[1], target.shape[1])

        def pad(symbols):
            return tf.pad(symbols, [[0, 0], [0, width - symbols.shape[1]]], constant_values=PAD)

        return tf.cast(tf.reduce_all(pad(translation) == pad(target), axis=-1), tf.float32)

    # ---------------------------------------------------------------- export
    def example_features(self, batch_size=2, seed=0):
        """Random sources of 1..source_len bytes and targets within 1.2 times their length."""
        keys = tf.unstack(tf.random.experimental.stateless_split([seed, 0], 4))
        source_lengths = tf.random.stateless_uniform(
            [batch_size], keys[0], 1, self.source_len + 1, tf.int32
        )
        longest = tf.minimum(
            tf.cast(parallel_text.LENGTH_RATIO * tf.cast(source_lengths, tf.float32), tf.int32),
            self.target_len - 1,
        )
        target_lengths = tf.cast(
            tf.random.stateless_uniform([batch_size], keys[1]) * tf.cast(longest + 1, tf.float32),
            tf.int32,
        )

        def symbols(width, key, length, last):
            values = tf.random.stateless_uniform(
                [batch_size, width], key, 2, self.num_categories, tf.int32
            )
            position = tf.range(width)[None]
            after = tf.where(position == length[:, None], last, PAD)
            return tf.where(position < length[:, None], values, after)

        return {
            "source": symbols(self.source_len, keys[2], source_lengths, PAD),
            "target": symbols(self.target_len, keys[3], target_lengths, END),
        }

    def signatures(self, jit_compile=False):
        """`serving_default` and `translate` (source -> target), `log_prob` (nats, bits per byte).

        `translate(source, temperature, seed)` gives `target` int32 [B, T]
        (bytes, `END`, `PAD`; see `translate`) and `length` int32 [B], the
        bytes before `END`. `log_prob(source, target)` gives `log_prob` [B]
        in nats and `bits_per_byte` [B].

        Args:
          jit_compile: compile the unfolding loop with XLA (else a plain
            graph while loop that any TF Serving build runs).
        """
        self.build_example()
        source_spec = tf.TensorSpec([None, None], tf.int32, name="source")

        def density(source, target):
            nats, count = self._target_nats({"source": source, "target": target})
            return {"log_prob": -nats, "bits_per_byte": nats / (count * math.log(2.0))}

        def translate(source, temperature, seed):
            target = self._translate(source, seed, temperature, jit_compile)
            length = tf.reduce_sum(tf.cast((target != PAD) & (target != END), tf.int32), -1)
            return {"target": target, "length": length}

        translate_specs = [
            source_spec,
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ]
        density_specs = [source_spec, tf.TensorSpec([None, None], tf.int32, name="target")]
        vocabulary = {key: (0, self.num_categories - 1) for key in ("source", "target")}
        # Temperature 0 translates greedily (`translate`).
        translate_ranges = {"source": vocabulary["source"], "temperature": (0.0, float("inf"))}
        return {
            "serving_default": signature_function(translate, translate_specs, translate_ranges),
            "translate": signature_function(translate, translate_specs, translate_ranges),
            "log_prob": signature_function(density, density_specs, vocabulary),
        }
