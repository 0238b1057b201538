"""tfgen.rl: tf-agents networks and agents (NoisyNet, A3C).

`tfgen.rl.networks` holds the NoisyNet networks (arXiv 1706.10295):
`NoisyQNetwork` and `NoisyDuelingQNetwork` (drop-in replacements for
tf-agents' `QNetwork` in `DqnAgent`) and `NoisyActorCriticNetwork` (A3C's
actor-critic network with noisy layers, feed-forward or LSTM).
"""
