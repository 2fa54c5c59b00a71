"""GET /v1/model: what runs, on what, with which weights (a loud flag for random weights)."""

from fastapi import APIRouter

from ..deps import EngineDep
from ..schemas import ModelOut

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model", response_model=ModelOut)
async def model_info(engine: EngineDep) -> dict:
    return engine.describe()
