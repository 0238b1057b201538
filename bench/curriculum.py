"""Automated curriculum learning (arXiv 1704.03003): Exp3.S against tf-agents, and syllabi.

1. Bandits: `tfgen.algorithms.curriculum.Exp3S` against tf-agents'
   `Exp3Agent` (`tf_agents.bandits.agents.exp3_agent`, Exp3 of Lattimore and
   Szepesvari, with no exploration mixing and no weight sharing) on the same
   Bernoulli bandits, `--arms` arms with means evenly spaced in [0.2, 0.8]:
   stationary, and switching (the means shift by two arms every quarter of
   the run, so the best arm changes three times). Both see the raw 0/1
   reward and the same step size `--bandit_eta`. Cumulative pseudo-regret
   (against the best mean of each step) and the policy's probability of the
   current best arm, at a quarter, half and all of `--bandit_steps` pulls,
   mean over `--seeds` seeds.
2. Syllabi: a tiny LSTM (`--units`) on the repeat-copy curriculum of Sec. 5,
   one task per (length l <= `--max_len`, repeats r <= `--max_repeats`) of
   `--num_bits`-bit vectors, the target task the largest. Each syllabus
   trains with Adam until the bit accuracy on 256 target-task test sequences
   reaches `--target_accuracy` (checked every `--eval_every` batches) or
   `--steps` batches: uniform task sampling, the target task alone, a
   hand-designed curriculum (tasks by increasing l r; the learner moves on
   when its accuracy on the current task reaches the target, and draws a
   uniformly chosen earlier task one batch in five), and Exp3.S with each
   learning-progress signal of Sec. 4 (the complexity gains on the same LSTM
   with a variational `NoisyDense` output layer, trained on the MDL loss;
   uniform sampling of that model given too). The task-selection
   probabilities over time are drawn to docs/curriculum_probabilities.png.

Writes the tables into docs/RESULTS.md (block `curriculum`) unless `--nowrite`.

    python -m bench.curriculum [--seeds 3] [--steps 2500] [--nowrite]
    python -m bench.curriculum --tiny   # tiny sizes, a few steps: a smoke run
"""

import os
import time

import numpy as np
import tensorflow as tf
from absl import app, flags
from tf_agents.bandits.agents import exp3_agent
from tf_agents.bandits.drivers import driver_utils
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from bench import results
from tfgen import data
from tfgen.algorithms import curriculum
from tfgen.layers.noisy_dense import NoisyDense

FLAGS = flags.FLAGS
flags.DEFINE_integer("arms", 5, "Arms of the Bernoulli bandits.")
flags.DEFINE_integer("bandit_steps", 2000, "Pulls per bandit run.")
flags.DEFINE_float("bandit_eta", 0.02, "Step size of both bandit algorithms.")
flags.DEFINE_float("bandit_alpha", 0.002, "Exp3.S weight sharing alpha on the bandits.")
flags.DEFINE_integer("seeds", 3, "Seeds of the bandit runs.")
flags.DEFINE_integer("curriculum_seeds", 1, "Seeds of each syllabus run.")
flags.DEFINE_integer("max_len", 4, "Longest sequence of the repeat-copy tasks.")
flags.DEFINE_integer("max_repeats", 4, "Most repeats of the repeat-copy tasks.")
flags.DEFINE_integer("num_bits", 4, "Bits per vector.")
flags.DEFINE_integer("units", 64, "LSTM units.")
flags.DEFINE_integer("steps", 2500, "Most batches per syllabus.")
flags.DEFINE_integer("batch_size", 32, "Sequences per batch.")
flags.DEFINE_float("learning_rate", 0.01, "Adam step size.")
flags.DEFINE_float("target_accuracy", 0.95, "Bit accuracy on the target task to reach.")
flags.DEFINE_integer("eval_every", 25, "Batches between evaluations.")
flags.DEFINE_float("eta", 0.01, "Exp3.S step size of the syllabi (the paper: 1e-3, longer runs).")
flags.DEFINE_float("alpha", 1e-3, "Exp3.S weight sharing alpha of the syllabi.")
flags.DEFINE_float("mdl_examples", 1e4, "Training-set size dividing the KL in the MDL loss.")
flags.DEFINE_list("signals", list(curriculum.SIGNALS), "Exp3.S signals to run.")
flags.DEFINE_integer("pool_batch", 4096, "Examples per batch drawn to fill the task pools.")
flags.DEFINE_string(
    "plot", os.path.join(results.DOCS, "curriculum_probabilities.png"), "Where to draw."
)


# ------------------------------------------------------------------ bandits
def bandit_means(step, arms, steps, switching):
    """The arms' means at `step`: evenly spaced in [0.2, 0.8], shifted each quarter if switching."""
    means = np.linspace(0.2, 0.8, arms)
    return np.roll(means, 2 * (4 * step // steps)) if switching else means


def run_exp3s(seed, switching):
    """(regret [steps], best-arm probability [steps]) of `Exp3S` on one bandit."""
    rng = np.random.default_rng(seed)
    bandit = curriculum.Exp3S(FLAGS.arms, FLAGS.bandit_eta, 0.0, 0.05, FLAGS.bandit_alpha)
    regret, best = np.zeros(FLAGS.bandit_steps), np.zeros(FLAGS.bandit_steps)
    for step in range(FLAGS.bandit_steps):
        means = bandit_means(step, FLAGS.arms, FLAGS.bandit_steps, switching)
        best[step] = bandit.probabilities()[np.argmax(means)]
        arm = bandit.sample(rng)
        bandit.update(arm, float(rng.random() < means[arm]))
        regret[step] = means.max() - means[arm]
    return np.cumsum(regret), best


def run_tf_agents(seed, switching):
    """(regret [steps], best-arm probability [steps]) of tf-agents' `Exp3Agent`."""
    tf.random.set_seed(seed)
    rng = np.random.default_rng(seed)
    step_spec = ts.time_step_spec(tensor_spec.TensorSpec([1], tf.float32))
    action_spec = tensor_spec.BoundedTensorSpec((), tf.int32, 0, FLAGS.arms - 1)
    agent = exp3_agent.Exp3Agent(step_spec, action_spec, learning_rate=FLAGS.bandit_eta)
    first = ts.restart(tf.zeros([1, 1]), batch_size=1)

    @tf.function
    def play(means, uniform):
        probabilities = tf.nn.softmax(agent.learning_rate * agent.weights)
        action_step = agent.collect_policy.action(first)
        reward = tf.cast(uniform < tf.gather(means, action_step.action), tf.float32)
        experience = driver_utils.trajectory_for_bandit(
            first, action_step, first._replace(reward=reward)
        )
        agent.train(tf.nest.map_structure(lambda x: tf.expand_dims(x, 1), experience))
        return action_step.action[0], probabilities

    regret, best = np.zeros(FLAGS.bandit_steps), np.zeros(FLAGS.bandit_steps)
    for step in range(FLAGS.bandit_steps):
        means = bandit_means(step, FLAGS.arms, FLAGS.bandit_steps, switching)
        arm, probabilities = play(tf.constant(means, tf.float32), tf.constant([rng.random()]))
        best[step] = probabilities.numpy()[np.argmax(means)]
        regret[step] = means.max() - means[int(arm)]
    return np.cumsum(regret), best


def bandit_table():
    marks = [FLAGS.bandit_steps // 4 - 1, FLAGS.bandit_steps // 2 - 1, FLAGS.bandit_steps - 1]
    rows = []
    for switching in (False, True):
        for name, run in (("Exp3.S (tfgen)", run_exp3s), ("Exp3Agent (tf-agents)", run_tf_agents)):
            regrets, bests = zip(*(run(seed, switching) for seed in range(FLAGS.seeds)))
            regret, best = np.mean(regrets, 0), np.mean(bests, 0)
            rows.append(
                (
                    "switching" if switching else "stationary",
                    name,
                    *(f"{regret[m]:.1f}" for m in marks),
                    *(f"{best[m]:.2f}" for m in marks),
                )
            )
    header = ("bandit", "algorithm")
    header += tuple(f"regret @ {m + 1}" for m in marks) + tuple(f"p(best) @ {m + 1}" for m in marks)
    return results.markdown_table(header, rows)


# ------------------------------------------------------------------ syllabi
def tasks():
    """The (length, repeats) of each task, by length then repeats; the last is the target."""
    return [
        (length, repeats)
        for length in range(1, FLAGS.max_len + 1)
        for repeats in range(1, FLAGS.max_repeats + 1)
    ]


def task_pools(split, batches):
    """Examples of each repeat-copy task, bucketed from `batches` batches of the mixed stream."""
    stream = data.load(
        "repeat_copy",
        split,
        batch_size=FLAGS.pool_batch,
        seed=0,
        num_bits=FLAGS.num_bits,
        max_len=FLAGS.max_len,
        max_repeats=FLAGS.max_repeats,
    )
    chunks = [{k: v.numpy() for k, v in batch.items()} for batch in stream.take(batches)]
    pool = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    length = pool["inputs"][:, :, FLAGS.num_bits].argmax(1)
    repeats = (pool["mask"].sum(1) - 1) / length
    return [
        {k: v[(length == task_length) & (repeats == task_repeats)] for k, v in pool.items()}
        for task_length, task_repeats in tasks()
    ]


def batches(pool, rng):
    while True:
        index = rng.integers(len(pool["mask"]), size=FLAGS.batch_size)
        yield {k: v[index] for k, v in pool.items()}


class CopyModel(tf.keras.Model):
    """An LSTM and a per-step output layer (a variational `NoisyDense` if `bayesian`)."""

    def __init__(self, units, outputs, bayesian):
        super().__init__()
        self.core = tf.keras.layers.LSTM(units, return_sequences=True)
        dense = NoisyDense(outputs, noise="independent") if bayesian else None
        self.head = dense or tf.keras.layers.Dense(outputs)

    def call(self, inputs):
        return self.head(self.core(inputs))


def nats(model, batch):
    """Masked Bernoulli cross-entropy summed over each sequence's targets, batch mean."""
    bits = tf.nn.sigmoid_cross_entropy_with_logits(batch["targets"], model(batch["inputs"]))
    return tf.reduce_mean(tf.reduce_sum(tf.reduce_sum(bits, -1) * batch["mask"], -1))


def mdl_loss(model, batch):
    """1704.03003 Sec. 4.2: the expected loss plus the KL shared over the training set."""
    return nats(model, batch) + curriculum.complexity(model) / FLAGS.mdl_examples


def bit_accuracy(model, batch):
    logits = model(batch["inputs"])
    right = tf.cast((logits > 0) == (batch["targets"] > 0.5), tf.float32)
    mask = tf.broadcast_to(batch["mask"][..., None], tf.shape(right))
    return tf.reduce_sum(right * mask) / tf.reduce_sum(mask)


def difficulty_order():
    """Task indices by increasing l r, then l."""
    pairs = tasks()
    return sorted(range(len(pairs)), key=lambda i: (pairs[i][0] * pairs[i][1], pairs[i][0]))


class HandDesigned:
    """Increasing difficulty: the current task 4 batches in 5, else a uniform earlier one."""

    def __init__(self, learner, streams, tests, accuracy, rng):
        self.learner, self.streams, self.tests, self.accuracy, self.rng = (
            learner,
            streams,
            tests,
            accuracy,
            rng,
        )
        self.order, self.stage, self.steps = difficulty_order(), 0, 0

    def probabilities(self):
        p = np.zeros(len(self.streams))
        p[self.order[self.stage]] = 0.8 if self.stage else 1.0
        if self.stage:
            p[self.order[: self.stage]] += 0.2 / self.stage
        return p

    def step(self):
        task = int(self.rng.choice(len(self.streams), p=self.probabilities()))
        self.learner.step(next(self.streams[task]))
        self.steps += 1
        current = self.order[self.stage]
        if (
            self.steps % FLAGS.eval_every == 0
            and self.stage < len(self.order) - 1
            and self.accuracy(self.tests[current]) >= FLAGS.target_accuracy
        ):
            self.stage += 1
        return {"task": task}


def run_syllabus(syllabus, train, tests, seed):
    """Trains one learner; returns (batches to target or None, final accuracy, shares, probs)."""
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    bayesian = syllabus in curriculum.COMPLEXITY_SIGNALS or syllabus == "uniform (variational)"
    model = CopyModel(FLAGS.units, FLAGS.num_bits + 1, bayesian)
    model(train[0]["inputs"][:1])
    learner = curriculum.Learner(
        model, mdl_loss if bayesian else nats, tf.keras.optimizers.Adam(FLAGS.learning_rate)
    )
    accuracy_fn = tf.function(bit_accuracy)

    def accuracy(batch):
        return float(accuracy_fn(model, batch))

    streams = [batches(pool, rng) for pool in train]
    if syllabus == "target only":
        streams = [streams[-1]]
    if syllabus == "hand-designed":
        sampler = HandDesigned(learner, streams, tests, accuracy, rng)
    else:
        signal = syllabus if syllabus in curriculum.SIGNALS else curriculum.UNIFORM
        bandit = curriculum.Exp3S(len(streams), FLAGS.eta, 0.0, 0.05, FLAGS.alpha)
        sampler = curriculum.CurriculumSampler(learner, streams, signal, bandit=bandit, seed=seed)
    counts, probabilities, reached = np.zeros(len(train)), [], None
    for step in range(1, FLAGS.steps + 1):
        probabilities.append(sampler.probabilities())
        task = sampler.step()["task"]
        counts[len(train) - 1 if syllabus == "target only" else task] += 1
        if step % FLAGS.eval_every == 0 and accuracy(tests[-1]) >= FLAGS.target_accuracy:
            reached = step
            break
    return reached, accuracy(tests[-1]), counts / counts.sum(), np.array(probabilities)


def _plot(path, curves, names):
    plt = results.pyplot()

    cols = min(3, len(curves))
    rows = -(-len(curves) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    colours = plt.cm.viridis(np.linspace(0, 1, len(names)))
    for ax, (title, probs) in zip(axes.flat, curves.items()):
        for task, name in enumerate(names):
            ax.plot(probs[:, task], color=colours[task], lw=1, label=name)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("batch")
        ax.set_ylabel("p(task)")
    for ax in list(axes.flat)[len(curves) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=5, ncol=2)
    fig.suptitle(
        "Exp3.S task-selection probabilities (repeat copy; colour: task by l, then r)", fontsize=9
    )
    fig.tight_layout()
    results.save_figure(fig, path)


def syllabus_table(plot):
    train = task_pools("train", 16)
    tests = [{k: v[:256] for k, v in pool.items()} for pool in task_pools("test", 2)]
    names = [f"l={length},r={repeats}" for length, repeats in tasks()]
    syllabi = ["uniform", "target only", "hand-designed", *FLAGS.signals]
    if any(signal in curriculum.COMPLEXITY_SIGNALS for signal in FLAGS.signals):
        syllabi.append("uniform (variational)")
    rows, curves = [], {}
    for syllabus in syllabi:
        start = time.perf_counter()
        runs = [
            run_syllabus(syllabus, train, tests, seed) for seed in range(FLAGS.curriculum_seeds)
        ]
        reached = [r[0] for r in runs]
        shown = [str(r) if r is not None else f"> {FLAGS.steps}" for r in reached]
        if syllabus in curriculum.SIGNALS:
            curves[syllabus] = runs[0][3]
        rows.append(
            (
                syllabus,
                ", ".join(shown),
                f"{np.mean([r[1] for r in runs]):.3f}",
                f"{np.mean([r[2][-1] for r in runs]):.2f}",
                f"{(time.perf_counter() - start) / len(runs):.0f}",
            )
        )
    _plot(plot, curves, names)
    header = (
        "syllabus",
        f"batches to {FLAGS.target_accuracy:.0%} bit accuracy on target",
        "target accuracy at stop",
        "share of target batches",
        "s / run",
    )
    return results.markdown_table(header, rows)


def main(argv):
    del argv
    results.tiny_defaults(
        bandit_steps=120,
        seeds=2,
        max_len=2,
        max_repeats=2,
        num_bits=2,
        units=8,
        steps=20,
        eval_every=10,
        signals=["gradient_variational_complexity_gain"],
        pool_batch=512,
    )
    wall = time.perf_counter()
    plot = results.output_path(FLAGS.plot)
    kind = "`--tiny` smoke run, measures nothing" if FLAGS.tiny else "Automated curriculum"
    text = (
        f"{kind} (arXiv 1704.03003). {results.machine()}.\n\n"
        f"Bandits: {FLAGS.arms} Bernoulli arms, means evenly spaced in [0.2, 0.8] (switching: "
        f"shifted by two arms each quarter), {FLAGS.bandit_steps} pulls, mean of {FLAGS.seeds} "
        f"seeds; both step sizes {FLAGS.bandit_eta}, Exp3.S epsilon 0.05, alpha "
        f"{FLAGS.bandit_alpha}; regret is the cumulative pseudo-regret, p(best) the policy's "
        f"probability of the current best arm.\n\n"
    )
    text += bandit_table()
    text += (
        f"\n\nSyllabi: repeat copy, {FLAGS.max_len * FLAGS.max_repeats} tasks (l <= "
        f"{FLAGS.max_len}, r <= {FLAGS.max_repeats}, {FLAGS.num_bits} bits), target l = "
        f"{FLAGS.max_len}, r = {FLAGS.max_repeats}; LSTM {FLAGS.units} units, Adam "
        f"{FLAGS.learning_rate}, batch {FLAGS.batch_size}, at most {FLAGS.steps} batches, "
        f"accuracy checked every {FLAGS.eval_every}; Exp3.S eta {FLAGS.eta}, epsilon 0.05, alpha "
        f"{FLAGS.alpha}, history 1000; seeds {FLAGS.curriculum_seeds}. The paper (abstract, "
        f"Sec. 5, LSTMs on n-gram, repeat copy and bAbI curricula): the automatic syllabi "
        f"'in some cases' halve the time to a satisfactory performance level.\n\n"
    )
    text += syllabus_table(plot)
    text += (
        f"\n\nPicture: `{results.shown_path(plot)}`. "
        f"Whole script: {time.perf_counter() - wall:.0f} s."
    )
    results.write_block("curriculum", text)


if __name__ == "__main__":
    app.run(main)
