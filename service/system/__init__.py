"""The service's own routes: ``/healthz``, ``/readyz``, ``/metrics``, ``/v1/model``."""
