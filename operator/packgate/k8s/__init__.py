"""The one door to the Kubernetes API server (official `kubernetes` client).

Only this package imports the Kubernetes client.  Blocking client calls run in threads; API
errors are wrapped into KubernetesError (or Conflict) with one-line messages.  Objects come back
as plain camelCase dicts, which `packgate.reconcile.observe` turns into typed states.
"""
