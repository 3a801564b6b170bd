"""The local Kubernetes cluster for Packgate's tests and demo: a real control plane and a real node.

Modules: `pki` (certificates, kubeconfigs), `node` (containerd, kubelet, kube-proxy, CoreDNS, registry
configuration and clean-up), `images` (images from Debian's packages, the operator image), `cluster`
(the launcher), `__main__` (`python -m localcluster up|down|status|images`).
"""
