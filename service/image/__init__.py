"""``POST /segment``: router -> protocol (request and response models) -> prompts -> engine (caches, staged
encoding, batching) -> ``model/image_predictor.py``."""
