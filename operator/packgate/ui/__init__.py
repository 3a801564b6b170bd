"""The history web UI and JSON API (`packgate ui`): pages and /api/v1 over PostgreSQL's history,
scoped by Kubernetes RBAC.

`app` builds the application (the only module importing the web framework and Jinja2), `views` the
pure answers it renders.  Must not: import anything at package import time beyond this docstring.
"""
