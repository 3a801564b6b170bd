"""The local Kubernetes cluster for Packgate's tests: a real control plane and a process-running node agent.

Modules: `pki` (certificates, kubeconfigs), `cluster` (launcher), `nodeagent` (the node), `launch`
(container setup run by the agent), `__main__` (`python -m localcluster up|down|status`).
"""
