"""The script hook: one JSON request in, JSON-lines events out (plugins/HOOK.md).

Editor plug-ins (Blender, Resolve, Nuke, in plugins/) run `moebius-video hook` in a
subprocess and speak only this protocol, so the core never imports a host's API.

    from moebius_video.hook import read_request, run_request
    request = read_request("job.json")          # checked against request.schema.json
    result = run_request(request, progress=callback)
"""

from __future__ import annotations

from .request import (
    CURRENT_VERSION,
    ROOTS_ENV,
    Confinement,
    HookRequest,
    RequestError,
    parse_request,
    read_request,
    request_schema,
)
from .runner import run_request

__all__ = [
    "CURRENT_VERSION",
    "ROOTS_ENV",
    "Confinement",
    "HookRequest",
    "RequestError",
    "parse_request",
    "read_request",
    "request_schema",
    "run_request",
]
