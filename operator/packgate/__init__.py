"""Packgate: a Kubernetes operator that tests automation packs before they are activated.

Importing this package does nothing but define names; clients, settings and connections are
created by the command that needs them.
"""

__version__ = "0.1.0"
