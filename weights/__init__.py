"""The official SAM 2.1 weights: fetched (``sam2refiner download``) into the Hub cache or this folder."""
