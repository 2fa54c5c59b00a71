"""Adapters that let annotation tools use the service in their own protocols (served in-process, speaking the
engine's interfaces inward): ``labelstudio/`` is a Label Studio ML backend at ``/labelstudio``."""
