"""The services the pack talks to, each an adapter behind one small protocol.

An adapter knows how its service wants a request built (form or JSON, where the credential goes), how to
read a submit answer and a status answer into the common shapes below, and where a finished task's files
are.  Endpoints and methods come from the operation specs.  The job runner has one submit, one poll loop,
one collect for every service; a third service is one new module here plus its spec entries.
"""

from __future__ import annotations

from .base import Call, ResultFile, Service, Status
from .hdredraw import HDRedrawService
from .hidream import HiDreamService

SERVICES: dict[str, Service] = {s.id: s for s in (HDRedrawService(), HiDreamService())}


def get(service_id: str) -> Service:
    return SERVICES[service_id]


__all__ = ["SERVICES", "Call", "ResultFile", "Service", "Status", "get"]
