# The Platypus agents of one node (pp-preparer, pp-iptables, pp-setlive): one policy and one token per node.
# Render with: sed -e 's/@PREFIX@/platypus/g' -e 's/@NODE@/web1/g' deploy/consul/agent.hcl
# @NODE@ is both the Platypus node (--node) and the Consul node name the agents' sessions and checks belong to.

# Its own intent only: a node cannot read what other nodes run.
key_prefix "@PREFIX@/intent/@NODE@/" {
  policy = "read"
}

# Its own reality only: it cannot write (or delete) another node's reports.
key_prefix "@PREFIX@/reality/@NODE@/" {
  policy = "write"
}

# The rollout semaphore: contender keys and the lock key are shared by every node taking part in a rollout.
key_prefix "@PREFIX@/locks/" {
  policy = "write"
}
# Verdicts of a rollout (healthy or not after a flip), shared by the nodes of a rollout and read by pp.
key_prefix "@PREFIX@/verdicts/" {
  policy = "write"
}

# Sessions that hold the semaphore are created for this node, and its health checks registered on it.
session "@NODE@" {
  policy = "write"
}
node "@NODE@" {
  policy = "write"
}
