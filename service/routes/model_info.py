"""GET /v1/model: what runs, on what, with which weights (a loud flag for random weights)."""

from fastapi import APIRouter, Depends

from ..deps import EngineDep, require_api_key
from ..schemas import ModelOut

router = APIRouter(prefix="/v1", tags=["model"], dependencies=[Depends(require_api_key)])


@router.get("/model", response_model=ModelOut)
async def model_info(engine: EngineDep) -> dict:
    return engine.describe()
