"""The paper's three trained components, one module each (composed with SAM 2 in ``model/sam2refiner.py``).

localization_augment.py  LA (sec. 3.2.1): quadrants, pooled keys, global-local cross-attention
prompt_retargeting.py    PR (sec. 3.2.2): prompt map, RFB-style block, dense prompt encoder, retargeting block
mask_refinement.py       MR (sec. 3.2.3): UNet-like decoder to full resolution with intermediate heads
"""

from .localization_augment import LocalizationAugment
from .mask_refinement import MaskRefinement
from .prompt_retargeting import PromptRetargeting

__all__ = ["LocalizationAugment", "MaskRefinement", "PromptRetargeting"]
