"""WaveNet and Parallel WaveNet trained on the `audio` data, samples, and a generation profile.

One run, four parts, every number into one table of docs/RESULTS.md:

1. trains a small logistic-mixture WaveNet teacher with the training library
   (`training.train`, as `python -m training` does) on short clips and sets
   its test NLL (nats and bits per sample) beside the mu-law marginal
   (unigram) baseline: the entropy of the train split's code histogram,
   measured on the test split, in NumPy;
2. distils a small Parallel WaveNet student from it (`teacher_dir` = the
   teacher's run) and reports its KL(P_S || P_T) per sample on fixed test
   batches and noise, before and after distillation;
3. generates one second from the teacher (fast XLA generation) and from the
   student, written as 16-bit WAVs, and a log-magnitude STFT PNG of both
   beside a real test clip (docs/wavenet_*.wav, docs/wavenet_spectrogram.png);
4. profiles fast XLA generation of the `bench.wavenet` config (2 stacks x 10
   layers, 64 residual / 128 skip channels, softmax head, batch 1) by timing
   XLA loops that do cumulatively more of the step: loop only, the dilated
   convolution matmuls, their queues, gate + conditioning + 1x1s, the output
   head, sampling. The differences are where the time goes.

    python -m bench.wavenet_audio [--teacher_steps 1500] [--student_steps 800]
    python -m bench.wavenet_audio --quick   # minutes: fewer steps and shorter profile
"""

import os
import time
import wave

import numpy as np
import tensorflow as tf
from absl import app, flags

import training
from bench import results
from tfgen import data, registry
from tfgen.data import audio

FLAGS = flags.FLAGS
flags.DEFINE_integer("teacher_steps", 1500, "Teacher training steps.")
flags.DEFINE_integer("student_steps", 800, "Student distillation steps.")
flags.DEFINE_integer("teacher_batch", 8, "Teacher batch size.")
flags.DEFINE_integer("student_batch", 4, "Student batch size.")
flags.DEFINE_integer("clip_length", 2048, "Training clip length (a multiple of 256).")
flags.DEFINE_integer("profile_samples", audio.SAMPLE_RATE, "Samples per profiled call.")
flags.DEFINE_integer("repeats", 3, "Timed calls per profile row (after one warm-up call).")
flags.DEFINE_string("work_dir", "/tmp/bench_wavenet_audio", "Where the training runs go.")
flags.DEFINE_bool("quick", False, "Few steps and a short profile (a smoke run).")

DOCS = os.path.dirname(results.RESULTS)
TEACHER = {"num_stacks": 1, "layers_per_stack": 10, "residual_channels": 32,
           "skip_channels": 64, "output": "logistic_mixture", "num_components": 10}
STUDENT = {"flow_layers": [10, 10], "residual_channels": 16, "skip_channels": 32,
           "num_cross_entropy_samples": 16}
PROFILED = {"num_stacks": 2, "layers_per_stack": 10, "residual_channels": 64,
            "skip_channels": 128}  # bench.wavenet's config, softmax head
KL_BATCHES, KL_BATCH = 4, 8  # fixed test clips for the before/after KL


def _set_threads():
    """Honours TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS (the bench shares the CPU)."""
    intra, inter = (os.environ.get(k) for k in ("TF_NUM_INTRAOP_THREADS",
                                                 "TF_NUM_INTEROP_THREADS"))
    if intra:
        tf.config.threading.set_intra_op_parallelism_threads(int(intra))
    if inter:
        tf.config.threading.set_inter_op_parallelism_threads(int(inter))
    return intra or "all"


# ------------------------------------------------------------------ 1. teacher
def _codes(split, options):
    batches = data.load("audio", split, batch_size=256, shuffle=False, **options)
    return np.concatenate([b["audio"].numpy() for b in batches])


def unigram_nats(train_codes, test_codes):
    """Nats per test sample of the train split's mu-law code marginal (add-one smoothed)."""
    counts = np.bincount(train_codes.ravel(), minlength=audio.NUM_LEVELS) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(-np.mean(log_p[test_codes.ravel()]))


def _train(name, hparams, steps, batch, options, model_dir, eval_batches):
    start = time.perf_counter()
    model, history = training.train(name, "audio", steps=steps, batch_size=batch,
                                    model_dir=model_dir, hparams=hparams,
                                    dataset_options=options, checkpoint_every=100,
                                    eval_batches=eval_batches, verbose=2)
    return model, history, time.perf_counter() - start


# ------------------------------------------------------------------ 2. student
def _kl_batches(options):
    return list(data.load("audio", "test", batch_size=KL_BATCH, shuffle=False, **options)
                .take(KL_BATCHES))


def student_kl(model, batches):
    """Mean (KL, cross-entropy, entropy) in nats per sample over fixed batches and noise."""
    terms = tf.function(model.distillation_terms, autograph=False)
    totals = np.zeros(3)
    for index, batch in enumerate(batches):
        out = terms({"audio": batch["audio"], "speaker": batch["speaker"]},
                    tf.constant(1000 + index, tf.int64))
        length = batch["audio"].shape[1]
        totals += [float(tf.reduce_mean(out[k])) / length
                   for k in ("kl", "cross_entropy", "entropy")]
    return totals / len(batches)


# ------------------------------------------------------------------ 3. samples
def write_wav(path, waveform):
    """Mono 16-bit PCM at 16 kHz from float samples in [-1, 1]."""
    pcm = np.round(np.clip(waveform, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(path, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(audio.SAMPLE_RATE)
        handle.writeframes(pcm.tobytes())


def log_stft(waveform, frame=512, hop=128):
    """Log-magnitude STFT in dB [frames, frame / 2 + 1] (Hann window)."""
    window = np.hanning(frame)
    frames = [waveform[i:i + frame] * window for i in range(0, len(waveform) - frame + 1, hop)]
    return 20.0 * np.log10(np.abs(np.fft.rfft(np.asarray(frames), axis=-1)) + 1e-5)


def write_spectrogram(path, waveforms):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(waveforms), figsize=(4 * len(waveforms), 3.2),
                             sharey=True)
    for ax, (title, waveform) in zip(axes, waveforms.items()):
        spec = log_stft(waveform)
        ax.imshow(spec.T, origin="lower", aspect="auto", cmap="magma", vmin=-60, vmax=40,
                  extent=[0, len(waveform) / audio.SAMPLE_RATE, 0, audio.SAMPLE_RATE / 2000])
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("seconds")
    axes[0].set_ylabel("kHz")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _real_clip(num_samples):
    """A real test clip of speaker 0 (clip index 0), >= num_samples long, as a waveform."""
    length = -(-num_samples // 256) * 256
    batch = next(iter(data.load("audio", "test", batch_size=1, shuffle=False,
                                clip_length=length)))
    return audio.mu_law_decode(batch["audio"][0, :num_samples]).numpy()


# ------------------------------------------------------------------ 4. profile
PROFILE_LEVELS = ("loop only", "+ dilated conv matmuls", "+ queue gather/scatter",
                  "+ conditioning, gate, residual/skip 1x1s", "+ output head",
                  "+ sampling (= fast XLA generation)")


def _profile_loop(model, level):
    """An XLA while loop doing the first `level + 1` parts of a fast-generation step.

    Every variant feeds its result back into the next step (and into the
    emitted code) so XLA cannot drop the work.
    """
    stack, h = model.stack, tf.one_hot([0], model.num_speakers)
    width = stack.residual_channels

    def conv_matmul(conv, x):  # a width-2 causal conv's matmul without its queue
        flat = tf.concat([x] * conv.kernel_size, axis=-1)
        return tf.matmul(flat, tf.reshape(conv.kernel, [-1, conv.filters])) + conv.bias

    def pseudo_code(u, values):  # a data-dependent code without sampling
        return tf.clip_by_value(tf.cast((u + 1e-3 * tf.reduce_mean(values, -1)) * 255.0,
                                        tf.int32), 0, audio.MU)

    def body(t, previous, queues, codes, noise):
        u = noise[t]
        if level == 0:
            code = pseudo_code(u[0], previous)
        elif level in (1, 2):
            new_queues = []
            if level == 1:
                x = conv_matmul(stack.input_conv, previous)
                for block in stack.blocks:
                    x = conv_matmul(block.dilated_conv, x)[:, :width]
            else:
                x, queue = stack.input_conv.step(previous, queues[0], t)
                new_queues.append(queue)
                for block, queue in zip(stack.blocks, queues[1:]):
                    pre, queue = block.dilated_conv.step(x, queue, t)
                    x = pre[:, :width]
                    new_queues.append(queue)
                queues = new_queues
            code = pseudo_code(u[0], x)
        elif level == 3:
            x, queue = stack.input_conv.step(previous, queues[0], t)
            new_queues, skips = [queue], []
            for block, queue in zip(stack.blocks, queues[1:]):
                x, skip, queue = block.step(x, queue, t, h)
                new_queues.append(queue)
                skips.append(skip)
            queues = new_queues
            code = pseudo_code(u[0], tf.add_n(skips))
        else:
            params, queues = stack.step(previous, queues, t, h)
            code = (pseudo_code(u[0], params) if level == 4
                    else model._draw(params, u, tf.constant(1.0)))
        return t + 1, model._encode(code), queues, codes.write(t, code), noise

    @tf.function(jit_compile=True, autograph=False)
    def run(noise):
        codes = tf.TensorArray(tf.int32, size=tf.shape(noise)[0], element_shape=[None])
        start = tf.zeros([1, stack.input_conv.kernel.shape[1]])
        loop_vars = (tf.constant(0), start, stack.initial_queues(1), codes, noise)
        out = tf.while_loop(lambda t, *_: t < tf.shape(noise)[0], body, loop_vars)
        return out[3].stack()

    return run


def profile_rows(num_samples, repeats):
    """(part, us/sample, us/sample of the part, share) rows, and the full loop's samples/s."""
    tf.keras.utils.set_random_seed(0)
    model = registry.build("wavenet", PROFILED)
    model(model.example_features(1))
    noise = tf.random.stateless_uniform([num_samples, 2, 1], [1, 2])
    micros = []
    for level in range(len(PROFILE_LEVELS)):
        run = _profile_loop(model, level)
        seconds = float(np.median(results.time_calls(lambda: run(noise), repeats)))
        micros.append(1e6 * seconds / num_samples)
    reference = float(np.median(results.time_calls(
        lambda: model.sample(num_samples, speaker=[0], seed=1, jit_compile=True), repeats)))
    rows, previous = [], 0.0
    for name, total in zip(PROFILE_LEVELS, micros):
        part = total - previous
        rows.append((name, f"{total:.1f}", f"{part:+.1f}", f"{part / micros[-1]:.0%}"))
        previous = total
    return rows, num_samples / reference


def _macs_per_sample(config):
    r, s, layers = (config["residual_channels"], config["skip_channels"],
                    config["num_stacks"] * config["layers_per_stack"])
    dilated, ones = layers * 2 * r * 2 * r, layers * (r * r + r * s) - r * r
    head = s * s + s * audio.NUM_LEVELS
    return dilated, ones, head


# ------------------------------------------------------------------ main
def main(argv):
    del argv
    threads = _set_threads()
    wall = time.perf_counter()
    if FLAGS.quick:
        teacher_steps, student_steps, profile_samples, repeats = 60, 20, 2000, 1
    else:
        teacher_steps, student_steps = FLAGS.teacher_steps, FLAGS.student_steps
        profile_samples, repeats = FLAGS.profile_samples, FLAGS.repeats
    options = {"clip_length": FLAGS.clip_length}
    tag = "quick" if FLAGS.quick else "full"
    teacher_dir = os.path.join(FLAGS.work_dir, f"teacher_{tag}")
    student_dir = os.path.join(FLAGS.work_dir, f"student_{tag}")

    # 1. Teacher and the unigram baseline.
    baseline = unigram_nats(_codes("train", options), _codes("test", options))
    teacher, history, teacher_seconds = _train("wavenet", TEACHER, teacher_steps,
                                               FLAGS.teacher_batch, options, teacher_dir, -1)
    nll = history.test_metrics["loss"]  # nats per sample on the whole test split
    print(f"teacher test NLL {nll:.4f} nats/sample; unigram {baseline:.4f}", flush=True)

    # 2. Student: KL before (initial weights, same seed as training) and after.
    student_hparams = {**STUDENT, "teacher_dir": teacher_dir}
    kl_batches = _kl_batches(options)
    tf.keras.utils.set_random_seed(0)
    initial = registry.build("parallel_wavenet", student_hparams, "audio", options)
    before = student_kl(initial, kl_batches)
    student, _, student_seconds = _train("parallel_wavenet", student_hparams, student_steps,
                                         FLAGS.student_batch, options, student_dir, 0)
    after = student_kl(student, kl_batches)
    print(f"student KL/sample before {before[0]:.4f} after {after[0]:.4f}", flush=True)

    # 3. One second of audio from each, and the spectrogram beside a real clip.
    start = time.perf_counter()
    teacher_codes = teacher.sample(audio.SAMPLE_RATE, speaker=[0], seed=3, jit_compile=True)
    teacher_gen = time.perf_counter() - start
    start = time.perf_counter()
    student_codes = student.sample(audio.SAMPLE_RATE, speaker=[0], seed=3)
    student_gen = time.perf_counter() - start
    waves = {"real test clip (speaker 0)": _real_clip(audio.SAMPLE_RATE),
             "WaveNet teacher (fast XLA)": audio.mu_law_decode(teacher_codes)[0].numpy(),
             "Parallel WaveNet student": audio.mu_law_decode(student_codes)[0].numpy()}
    files = {"wavenet_teacher_sample.wav": waves["WaveNet teacher (fast XLA)"],
             "parallel_wavenet_sample.wav": waves["Parallel WaveNet student"]}
    for name, waveform in files.items():
        write_wav(os.path.join(DOCS, name), waveform)
    write_spectrogram(os.path.join(DOCS, "wavenet_spectrogram.png"), waves)

    # 4. Profile of fast XLA generation.
    profile, rate = profile_rows(profile_samples, repeats)
    dilated, ones, head = _macs_per_sample(PROFILED)
    wall = time.perf_counter() - wall

    log2 = np.log(2.0)
    text = (f"`python -m bench.wavenet_audio{' --quick' if FLAGS.quick else ''}` on the "
            f"generated `audio` data ({FLAGS.clip_length}-sample clips, 4 speakers, speaker "
            f"conditioning, no local conditioning); {results.machine()}, "
            f"{threads} intra-op thread(s); whole run {wall / 60:.1f} min.\n\n"
            f"Teacher: `wavenet` with the logistic-mixture head, {TEACHER['num_stacks']} stack "
            f"x {TEACHER['layers_per_stack']} layers, {TEACHER['residual_channels']} residual "
            f"/ {TEACHER['skip_channels']} skip channels, {TEACHER['num_components']} "
            f"logistics, {teacher_steps} steps of batch {FLAGS.teacher_batch} through "
            f"`training.train` ({teacher_seconds / 60:.1f} min); NLL on the whole 256-clip "
            f"test split. The unigram baseline is the train split's mu-law code "
            f"marginal (add-one smoothed) scored on the test split. Student: "
            f"`parallel_wavenet` with flows {STUDENT['flow_layers']}, "
            f"{STUDENT['residual_channels']} / {STUDENT['skip_channels']} channels, "
            f"{STUDENT['num_cross_entropy_samples']} cross-entropy draws per step, "
            f"`teacher_dir` = the teacher's run, {student_steps} steps of batch "
            f"{FLAGS.student_batch} ({student_seconds / 60:.1f} min); KL(P_S || P_T), "
            f"H(P_S, P_T) and H(P_S) per sample on {KL_BATCHES} x {KL_BATCH} test clips "
            f"with fixed noise, at initialisation and after distillation (the cross-entropy "
            f"and entropy are of continuous densities on [-1, 1], the teacher's being its "
            f"bin mass over the bin width, so they can be negative).\n\n")
    rows = [
        ("mu-law marginal (unigram) baseline, test NLL", f"{baseline:.3f} nats/sample",
         f"{baseline / log2:.3f} bits/sample"),
        ("WaveNet teacher, test NLL", f"{nll:.3f} nats/sample",
         f"{nll / log2:.3f} bits/sample"),
        ("student KL / sample, before -> after", f"{before[0]:.3f} -> {after[0]:.3f} nats",
         f"cross-entropy {before[1]:.3f} -> {after[1]:.3f}, entropy "
         f"{before[2]:.3f} -> {after[2]:.3f}"),
        ("1 s from the teacher (fast XLA, incl. compile)", f"{teacher_gen:.2f} s",
         "docs/wavenet_teacher_sample.wav"),
        ("1 s from the student (one pass, incl. tracing)", f"{student_gen:.2f} s",
         "docs/parallel_wavenet_sample.wav"),
    ]
    text += results.markdown_table(("quantity", "value", "detail"), rows)
    text += ("\n\nSpectrograms (log-magnitude STFT, 512-sample Hann window, hop 128) of a "
             "real test clip, the teacher's and the student's second: "
             "docs/wavenet_spectrogram.png.\n\n"
             f"Where the time of fast XLA generation goes: the `bench.wavenet` config "
             f"({PROFILED['num_stacks']} stacks x {PROFILED['layers_per_stack']} layers, "
             f"{PROFILED['residual_channels']} residual / {PROFILED['skip_channels']} skip "
             f"channels, softmax head, speaker conditioning, batch 1, initial weights), "
             f"{profile_samples} samples per call, median of {repeats} after a warm-up. Each "
             f"row is an XLA `tf.while_loop` doing cumulatively more of the step; the part's "
             f"cost is the difference from the row above (noisy at the 1 us level on a "
             f"shared CPU). `model.sample(jit_compile=True)` ran at {rate:,.0f} samples/s "
             f"({rate / audio.SAMPLE_RATE:.2f}x real time) in this run. Multiply-adds per "
             f"sample: dilated convs {dilated:,}, residual/skip 1x1s {ones:,}, output head "
             f"{head:,}.\n\n")
    text += results.markdown_table(("loop does", "us/sample", "part", "share"), profile)
    results.write_block("wavenet_audio", text)


if __name__ == "__main__":
    app.run(main)
