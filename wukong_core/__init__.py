"""Wukong: GitOps for KubeVirt virtual machines.

Layers (enforced by import-linter, see pyproject.toml):
  cli / api  ->  pipeline  ->  edges (cluster, gitops, webhooks)  ->  pure core  ->  spec, errors
"""
