"""The web page's router, until it moves to ``service/web/router.py``."""
