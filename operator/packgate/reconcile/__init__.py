"""Pure decisions: what the operator should do for a Pack, given what it observed.

`render` turns an execution into Job manifests; `plan` turns observed state into a new status,
actions and events.  Nothing here does I/O or imports kopf or the Kubernetes client.
"""
