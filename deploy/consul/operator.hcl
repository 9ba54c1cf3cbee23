# Platypus operators (pp intent put/rm/drain, pp deploy): write every node's intent.
# Render with: sed 's/@PREFIX@/platypus/g' deploy/consul/operator.hcl
# Intent can run code on every node: with agents run with --trusted-signers, this token alone cannot (specs must be
# signed by a key in the nodes' allowed_signers file), but it can still withhold or delete intent.

# Every node's intent, and the serial key every pp write moves (check-and-set against concurrent operators).
key_prefix "@PREFIX@/intent/" {
  policy = "write"
}
key_prefix "@PREFIX@/intent-serial/" {
  policy = "write"
}

# What the agents report, the rollout locks and verdicts: read (pp status, pp deploy waiting on a rollout).
key_prefix "@PREFIX@/reality/" {
  policy = "read"
}
key_prefix "@PREFIX@/locks/" {
  policy = "read"
}
key_prefix "@PREFIX@/verdicts/" {
  policy = "read"
}

# The agents' health checks, for pp status / pp check.
node_prefix "" {
  policy = "read"
}
