"""SAM2Refiner's inference service: FastAPI app, inference engine, caches, metrics and a Python client."""
