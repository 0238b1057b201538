"""ByteNet (arXiv 1610.10099) at small scale: a byte language model and a byte translator.

1. Language modelling (Sec. 5) on `text`: `bytenet_lm` (the ByteNet
   decoder with Multiplicative Unit blocks) trained for `--lm_steps` steps,
   scored in bits per character on the whole test split, beside unigram and
   bigram baselines counted on the training split; a sample at temperature 1.
2. Translation (Sec. 6) on `parallel_text`: `bytenet_translate` trained for
   `--translate_steps` steps, scored in bits per target byte, and by greedy
   translation (dynamic unfolding, Sec. 3.2) of `--test_pairs` test pairs:
   the share translated exactly and the share of target bytes right, beside
   the copy baseline (target := source); a few greedy translations.
3. Writes the text into docs/RESULTS.md (block `bytenet`) unless `--nowrite`.

    python -m bench.bytenet [--lm_steps 1200] [--translate_steps 1800] [--nowrite]
    python -m bench.bytenet --tiny   # the test-size models, 2 steps each: a smoke run

Each training run stops after its step count; its time cap (`--*_seconds`) is a
safety net only, and the steps column says how many steps were taken.
"""

import math
import re
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results
from bench import sequence_tasks as tasks
from tests.conformance import goldens
from tfgen import data, registry
from tfgen.data import parallel_text
from tfgen.data import text as text_data

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "lm_hparams",
    "hidden_units=128,num_sets=1",
    "`bytenet_lm` overrides (key=value,...); the default is one set of dilations 1..16 at "
    "d = 128 (paper: 6 sets, d = 512).",
)
flags.DEFINE_integer("lm_seq_len", 128, "Bytes per `text` window.")
flags.DEFINE_integer("lm_batch_size", 16, "Language-model training batch size.")
flags.DEFINE_float("lm_learning_rate", 3e-3, "Language-model Adam learning rate.")
flags.DEFINE_integer("lm_steps", 1200, "Language-model training steps.")
flags.DEFINE_float("lm_seconds", 450.0, "Language-model training time cap (s), a safety net.")
flags.DEFINE_integer("sample_length", 200, "Bytes of the language-model sample.")
flags.DEFINE_string(
    "translate_hparams",
    "hidden_units=128,num_sets=1",
    "`bytenet_translate` overrides (key=value,...); the default is one set of dilations 1..16 "
    "in each network at d = 128 (paper: 6 sets each, d = 800).",
)
flags.DEFINE_integer("max_len", 64, "Source bytes per `parallel_text` pair, at most.")
flags.DEFINE_integer("translate_batch_size", 16, "Translator training batch size.")
flags.DEFINE_float("translate_learning_rate", 3e-3, "Translator Adam learning rate.")
flags.DEFINE_integer("translate_steps", 1800, "Translator training steps.")
flags.DEFINE_float("translate_seconds", 450.0, "Translator training time cap (s), a safety net.")
flags.DEFINE_integer(
    "test_pairs", 432, "Test pairs scored and translated (432: the whole test split at max_len 64)."
)
flags.DEFINE_integer("num_examples", 5, "Greedy translations shown.")
flags.DEFINE_integer("seed", 1, "Seed of the language-model sample.")

# arXiv 1610.10099 Sec. 5 (Hutter Prize Wikipedia, enwik8) and Sec. 6 (WMT English-German).
PAPER_LM = "1.31 (enwik8)"
PAPER_TRANSLATION = "BLEU 23.75 (newstest2014; not comparable: a synthetic task here)"
# Sources shown as examples: words and plain punctuation (nothing markdown reads), a letter first.
_PLAIN = re.compile(rb"[A-Za-z][A-Za-z ,.;:'()-]*")


def _setup():
    """(LM hparams, LM options, translator hparams, translator options)."""
    lm, translator = (goldens.GOLDENS[name] for name in ("bytenet_lm", "bytenet_translate"))
    if FLAGS.tiny:
        return (
            dict(lm.hparams),
            dict(lm.dataset_options),
            dict(translator.hparams),
            dict(translator.dataset_options),
        )
    return (
        registry.parse_hparams(FLAGS.lm_hparams),
        {"seq_len": FLAGS.lm_seq_len},
        registry.parse_hparams(FLAGS.translate_hparams),
        {"max_len": FLAGS.max_len},
    )


def _size(name, hparams, dataset, options):
    """The sizes of a model as the table text states them."""
    config = registry.resolve_hparams(name, hparams, dataset, options)
    blocks = "MU" if config["multiplicative"] else "ReLU"
    dilations = ", ".join(map(str, config["dilation_rates"]))
    return (
        f"d = {config['hidden_units']}, k = {config['kernel_size']}, {config['num_sets']} x "
        f"({dilations}) {blocks} blocks"
    )


def _nats(model, features):
    """Cross-entropy [B, T] in nats of each symbol of `model(features)`'s target."""
    symbols = features["tokens"] if "tokens" in features else features["target"]
    return tf.nn.sparse_softmax_cross_entropy_with_logits(symbols, model(features)).numpy()


def _language_model(hparams, options):
    test = tasks.test_batch("text", options, data.info("text", **options).num_examples["test"])
    model, limit, _ = tasks.train(
        "bytenet_lm",
        hparams,
        "text",
        options,
        steps=FLAGS.lm_steps,
        seconds=FLAGS.lm_seconds,
        batch_size=FLAGS.lm_batch_size,
        learning_rate=FLAGS.lm_learning_rate,
        test=test,
    )
    tokens = test["tokens"].numpy()
    # Every window's bytes after its first, as the n-grams score them.
    bits = _nats(model, test)[:, 1:].mean() / math.log(2.0)
    unigram, bigram = tasks.ngram_bits_per_char(text_data.split_bytes()["train"], tokens)
    rows = [
        (
            f"`bytenet_lm`, {_size('bytenet_lm', hparams, 'text', options)}",
            f"{tasks.param_count(model):,}",
            f"{bits:.3f}",
            tasks.trained(limit),
            PAPER_LM,
        ),
        ("unigram (training-split counts, add-one)", "-", f"{unigram:.3f}", "-", "-"),
        ("bigram (training-split counts, add-one)", "-", f"{bigram:.3f}", "-", "-"),
    ]
    sample = model.sample(1, FLAGS.sample_length, seed=FLAGS.seed, temperature=1.0)
    return rows, bytes(sample.numpy()[0].astype(np.uint8)), len(tokens)


def _strip(symbols):
    """The bytes of one row of symbols: those before the first `END` or `PAD`."""
    stops = np.flatnonzero((symbols == parallel_text.END) | (symbols == parallel_text.PAD))
    return bytes(symbols[: stops[0] if len(stops) else len(symbols)].astype(np.uint8))


def _scores(outputs, targets):
    """(exact match, byte accuracy) of byte strings `outputs` against `targets`.

    Byte accuracy: the share of target symbols (bytes and `END`) that the
    output has at the same position.
    """
    exact = np.mean([output == target for output, target in zip(outputs, targets)])
    end, right, total = bytes([parallel_text.END]), 0, 0
    for output, target in zip(outputs, targets):
        output, target = output + end, target + end
        right += sum(a == b for a, b in zip(output, target))
        total += len(target)
    return float(exact), right / total


def _cell(value):
    """Bytes as a markdown code span: `|` escaped, backticks made quotes, control bytes as \\xNN."""
    text = value.decode("utf-8", errors="replace")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    if not text:
        return "(empty)"
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def _examples(sources, targets, outputs):
    """Rows (source, target, model) of `--num_examples` test pairs spread over the split.

    Only sources of words and plain punctuation (`_PLAIN`), at least half the longest, are shown.
    """
    longest = max(map(len, sources))
    shown = [i for i, s in enumerate(sources) if _PLAIN.fullmatch(s) and 2 * len(s) >= longest]
    chosen = shown[:: max(1, len(shown) // FLAGS.num_examples)][: FLAGS.num_examples]
    return [(_cell(sources[i]), _cell(targets[i]), _cell(outputs[i])) for i in chosen]


def _translation(hparams, options):
    test = tasks.test_batch("parallel_text", options, FLAGS.test_pairs)
    model, limit, _ = tasks.train(
        "bytenet_translate",
        hparams,
        "parallel_text",
        options,
        steps=FLAGS.translate_steps,
        seconds=FLAGS.translate_seconds,
        batch_size=FLAGS.translate_batch_size,
        learning_rate=FLAGS.translate_learning_rate,
        test=test,
    )
    symbols = (test["target"] != parallel_text.PAD).numpy()
    bits = (_nats(model, test) * symbols).sum() / (symbols.sum() * math.log(2.0))
    sources = [_strip(row) for row in test["source"].numpy()]
    targets = [_strip(row) for row in test["target"].numpy()]
    outputs = [_strip(row) for row in model.translate(test["source"]).numpy()]
    exact, accuracy = _scores(outputs, targets)
    copy_exact, copy_accuracy = _scores(sources, targets)
    rows = [
        (
            f"`bytenet_translate`, {_size('bytenet_translate', hparams, 'parallel_text', options)}"
            " in each network",
            f"{tasks.param_count(model):,}",
            f"{bits:.3f}",
            tasks.percent(exact),
            tasks.percent(accuracy),
            tasks.trained(limit),
            PAPER_TRANSLATION,
        ),
        (
            "copy baseline (target := source)",
            "-",
            "-",
            tasks.percent(copy_exact),
            tasks.percent(copy_accuracy),
            "-",
            "-",
        ),
    ]
    return rows, _examples(sources, targets, outputs), len(sources)


def _fenced(text):
    """`text` in a fenced code block whose fence is longer than any backtick run in it."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def main(argv):
    del argv
    results.tiny_defaults(
        lm_steps=2,
        lm_batch_size=4,
        translate_steps=2,
        translate_batch_size=4,
        test_pairs=16,
        num_examples=2,
        sample_length=20,
    )
    wall = time.perf_counter()
    lm_hparams, lm_options, translate_hparams, translate_options = _setup()
    lm_rows, sample, windows = _language_model(lm_hparams, lm_options)
    translate_rows, examples, pairs = _translation(translate_hparams, translate_options)

    scale = "`--tiny` smoke run, measures nothing: the test-size models. " if FLAGS.tiny else ""
    text = (
        f"{scale}Language modelling (Sec. 5) on `text` (the whole test split: {windows} windows "
        f"of {lm_options['seq_len']} bytes; every byte after a window's first is scored, for "
        f"the model and the n-grams alike): `bytenet_lm` trained with Adam "
        f"{FLAGS.lm_learning_rate} (gradients clipped to norm 1) on batches of "
        f"{FLAGS.lm_batch_size} windows for {FLAGS.lm_steps} steps. The paper's ByteNet "
        f"decoder (d = 512, 30 residual MU blocks in 6 sets of dilations 1..16, masked kernels "
        f"of size 3) is trained on enwik8, 100M bytes of Wikipedia (90M for training), against "
        f"the 0.42M training bytes of `text`: its number marks the scale, not a like-for-like "
        f"comparison. {results.machine()}.\n\n"
    )
    text += results.markdown_table(
        ("model", "parameters", "test bits/char", "steps / s", "paper (bits/char)"), lm_rows
    )
    text += (
        f"\n\nTranslation (Sec. 6) on `parallel_text` (sources of at most "
        f"{translate_options['max_len']} bytes "
        f"of `text`; the target reverses every word and spells x, q, z, j as ks, kw, ts, dj): "
        f"`bytenet_translate` (the source network under the target network, dynamic unfolding "
        f"with a = 1.2, b = 0) trained with Adam {FLAGS.translate_learning_rate} on batches of "
        f"{FLAGS.translate_batch_size} pairs for {FLAGS.translate_steps} steps. Scored on "
        f"{pairs} test pairs: bits per target byte (the `END` symbol counted) under teacher "
        f"forcing, and greedy translations (the most likely byte at every step, until `END`): "
        f"exact match (the whole sentence right) and byte accuracy (the share of target bytes "
        f"and `END`s that the translation has at the same position). The paper's model (d = "
        f"800, 30 ReLU blocks in each network) translates WMT English to German; its BLEU is "
        f"not comparable with this synthetic task.\n\n"
    )
    text += results.markdown_table(
        (
            "model",
            "parameters",
            "test bits/byte",
            "exact match",
            "byte accuracy",
            "steps / s",
            "paper",
        ),
        translate_rows,
    )
    text += "\n\nGreedy translations of test sources:\n\n"
    text += results.markdown_table(("source", "target", "ByteNet (greedy)"), examples)
    text += (
        f"\n\nWhole script: {time.perf_counter() - wall:.0f} s. A {FLAGS.sample_length}-byte "
        f"sample of `bytenet_lm` at temperature 1 (seed {FLAGS.seed}; bytes decoded as UTF-8, "
        f"undecodable ones shown as U+FFFD):\n\n"
    )
    text += _fenced(sample.decode("utf-8", errors="replace"))
    results.write_block("bytenet", text)


if __name__ == "__main__":
    app.run(main)
