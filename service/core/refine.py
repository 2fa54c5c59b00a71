"""What a request's ``refine`` means on this server: the one refine policy of the image and video paths.

A refiner runs only when it is loaded: trained (a checkpoint) or random by explicit choice. Unset, ``refine`` is
on exactly when one is loaded; asking for it on a server without one is an error (409), never SAM 2's mask in
its place.
"""

from __future__ import annotations

from dataclasses import dataclass

from sam2refiner.model import RefinerSwitches

from .errors import RefinerNotLoadedError


@dataclass(frozen=True)
class RefinePolicy:
    refiner: str  # "trained", "random" or "none" (SAM 2 alone)
    modules: RefinerSwitches  # the loaded refiner's modules

    @property
    def default(self) -> bool:
        """What a request without ``refine`` gets."""
        return self.refiner != "none"

    def resolve(self, requested, field_name: str = "refine"):
        """``requested`` (None, a bool, or a module set as a dict of bools) as this server runs it."""
        if requested is None:
            return self.default
        if self.refiner == "none" and (requested is True or (isinstance(requested, dict) and any(requested.values()))):
            raise RefinerNotLoadedError(
                field_name,
                "this server runs SAM 2 alone (no refiner loaded): send refine=false or leave it out, or start the "
                "server with SAM2REFINER_REFINER_CHECKPOINT=<trained refiner .safetensors> "
                "(SAM2REFINER_RANDOM_REFINER=true gives random refiner weights, for tests and demos)",
            )
        return requested

    def refines(self, refine: bool) -> bool:
        """Whether ``refine`` means any work beyond SAM 2's path for the loaded model."""
        return bool(refine) and self.modules.any()
