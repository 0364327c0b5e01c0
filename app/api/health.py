"""Liveness and readiness for supervisors and load balancers.

`/health`: the process answers (no I/O). `/ready`: the database answered just now, and the upstream and each trusted
mint answered within READY_MAX_AGE_S; otherwise 503 with the failed checks named."""

from fastapi import APIRouter
from starlette.responses import Response

from app.api.deps import NodeDep
from app.api.responses import json_response

router = APIRouter(tags=["operator"])


@router.get("/health")
async def health() -> Response:
    return json_response({"status": "ok"})


@router.get("/ready", responses={503: {"description": "a check failed: `failed` names it"}})
async def ready(node: NodeDep) -> Response:
    if node.readiness is None:
        return json_response({"status": "ready", "failed": [], "checks": {}})
    report = await node.readiness.report()
    return json_response(report.to_json(), 200 if report.ready else 503)
