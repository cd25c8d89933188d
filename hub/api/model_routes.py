"""Detector models for the centre's agents, over HTTP signed with each agent's own key.

Not for people: an agent signs its request (``protocol/model_transfer.py``), the hub answers with a
manifest signed with that agent's key, then the file. A request without a valid signature is 401.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from hub.api.context import ApiContext, ApiError, Ctx, not_found
from hub.api.views.media import media
from protocol.errors import SignatureError
from protocol.model_transfer import ModelManifest, SignedRequest, manifest, verify_request

router = APIRouter(tags=["models"])
log = logging.getLogger(__name__)


def _agent(request: Request, ctx: ApiContext) -> SignedRequest:
    service = ctx.service
    try:
        return verify_request(
            request.headers, request.method, request.url.path, service.agent_keys, service.clock.now_ms()
        )
    except SignatureError as exc:  # one answer for every reason: it names no agent that exists
        log.debug("model request refused from %s: %s", request.client.host if request.client else "?", exc)
        raise ApiError(401, "unauthenticated", "代理签名无效 (agent signature refused)") from None


@router.get(
    "/models",
    summary="The detector models offered to the signing agent (a manifest signed with its key)",
)
def model_manifest(request: Request, ctx: ApiContext = Ctx) -> ModelManifest:
    signed = _agent(request, ctx)
    service = ctx.service
    key = service.agent_keys.signing_key(signed.agent)
    return manifest(signed, service.models.files(), key, service.clock.now_ms())


@router.get(
    "/models/{name}",
    summary="One model file, for the signing agent",
    response_class=FileResponse,
    responses=media(binary=("application/octet-stream",)),
)
def model_file(name: str, request: Request, ctx: ApiContext = Ctx) -> FileResponse:
    _agent(request, ctx)
    path = ctx.service.models.path(name)
    if path is None:
        raise not_found("模型 model", name)
    return FileResponse(path, media_type="application/octet-stream", filename=name)
