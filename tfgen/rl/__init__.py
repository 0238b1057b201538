"""tfgen.rl: tf-agents networks and agents (NoisyNet, A3C).

`tfgen.rl.networks` holds the NoisyNet networks (arXiv 1706.10295):
`NoisyQNetwork` and `NoisyDuelingQNetwork` (drop-in replacements for
tf-agents' `QNetwork` in `DqnAgent`) and `NoisyActorCriticNetwork` (A3C's
actor-critic network with noisy layers, feed-forward or LSTM).
`tfgen.rl.a3c.A3C` (arXiv 1602.01783, Algorithm S3) is registered in
`tfgen.registry` as the agent `"a3c"`, so `python -m training --model a3c`
trains it; `tfgen.rl.a2c_agent` holds its synchronous variant and `save_policy`.
"""
