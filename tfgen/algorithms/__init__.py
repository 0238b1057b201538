"""Training algorithms that are not models: memory-efficient BPTT, SnAp, synthetic gradients, ...

BPTT-MSM (arXiv 1606.03401) runs any Keras RNN cell (Keras's own `LSTMCell`,
`GRUCell`, `SimpleRNNCell` and the cells of `tfgen.layers`); SnAp (arXiv
2006.07232) runs Keras's `SimpleRNNCell`, `GRUCell` and `LSTMCell` and their sparse
form, `tfgen.layers.SparseRecurrentCell`. The automated curriculum (arXiv
1704.03003) is `Exp3S` over a family of tasks with the learning-progress signals.
Decoupled neural interfaces (arXiv 1608.05343) train a Keras model's layers,
or a recurrent core beyond its truncation, from synthetic gradients.
"""

from tfgen.algorithms.bptt_msm import (
    BPTTMSMModel,
    Policy,
    hsm_cost,
    ism_cost,
    msm_cost,
    msm_gradients,
    policy,
    schedule_evaluations,
)
from tfgen.algorithms.curriculum import (
    CurriculumSampler,
    Exp3S,
    Learner,
    Reservoir,
    complexity,
    default_loss,
    gradient_prediction_gain,
    gradient_variational_complexity_gain,
    mean_prediction_gain,
    prediction_gain,
    repeat_copy_tasks,
    rescale,
    self_prediction_gain,
    target_prediction_gain,
    variational_complexity_gain,
    variational_layers,
)
from tfgen.algorithms.dni import (
    AsynchronousTrainer,
    DecoupledSequential,
    Synthesizer,
    SyntheticGradientTrainer,
    decoupled_mlp,
)
from tfgen.algorithms.snap import (
    OnlineTrainer,
    SnAp,
    TruncatedBPTTTrainer,
    dynamics_pattern,
    sigmoid_cross_entropy,
    snap_pattern,
)

__all__ = [
    "AsynchronousTrainer",
    "BPTTMSMModel",
    "CurriculumSampler",
    "DecoupledSequential",
    "Exp3S",
    "Learner",
    "OnlineTrainer",
    "Policy",
    "Reservoir",
    "SnAp",
    "Synthesizer",
    "SyntheticGradientTrainer",
    "TruncatedBPTTTrainer",
    "complexity",
    "decoupled_mlp",
    "default_loss",
    "dynamics_pattern",
    "gradient_prediction_gain",
    "gradient_variational_complexity_gain",
    "hsm_cost",
    "ism_cost",
    "mean_prediction_gain",
    "msm_cost",
    "msm_gradients",
    "policy",
    "prediction_gain",
    "repeat_copy_tasks",
    "rescale",
    "schedule_evaluations",
    "self_prediction_gain",
    "sigmoid_cross_entropy",
    "snap_pattern",
    "target_prediction_gain",
    "variational_complexity_gain",
    "variational_layers",
]
