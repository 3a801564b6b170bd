"""The Pack custom resource as typed models: spec, status, conditions.

Raw dicts from the API server become these models where they enter (handlers) and never travel
further inward.
"""
