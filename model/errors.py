"""Errors raised by the model package.

Every error a caller can cause is a ``ValueError`` subclass whose message names the argument at fault, so
the service can map each one to a 4xx in one place without knowing the model's internals.
"""


class InvalidInputError(ValueError):
    """A prompt, image or option passed by the caller is malformed; ``argument`` names it."""

    def __init__(self, argument: str, message: str):
        super().__init__(f"{argument}: {message}")
        self.argument = argument
        self.detail = message


class ImageNotSetError(InvalidInputError):
    """``predict`` was called before ``set_image`` / ``set_image_batch``."""

    def __init__(self):
        super().__init__("image", "no image is set: call set_image(...) or set_image_batch(...) before predict(...)")


class CheckpointError(ValueError):
    """A weights file is missing, unreadable, or does not fit the model it is loaded into."""
