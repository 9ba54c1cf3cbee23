# Read-only access for pp status and pp check: every key under the prefix, and the agents' health checks.
# Render with: sed 's/@PREFIX@/platypus/g' deploy/consul/readonly.hcl

key_prefix "@PREFIX@/" {
  policy = "read"
}
node_prefix "" {
  policy = "read"
}
