"""One paid request, fixed once: operation, validated parameters, wire form, upload bytes, fingerprint.

Validation and the wire form happen when the request is made, never again: the journal's fingerprint, the
journal row and the bytes the service receives are all read from this one immutable object, so they cannot
drift apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .codecs import Encoded
from .operation import Operation


@dataclass(frozen=True)
class TaskRequest:
    op: Operation
    values: Mapping[str, Any]  # validated, defaults filled in (read-only)
    wire: Mapping[str, str]  # what the service receives for the parameters (read-only)
    upload: Encoded | str  # encoded image bytes, or an image URL (HiDream)
    variation: int
    account: str  # tells accounts apart without revealing the key (see `account_id`)

    @classmethod
    def of(cls, op: Operation, values: Mapping[str, Any], upload: Encoded | str, variation: int,
           account: str, wire: Mapping[str, str] | None = None) -> TaskRequest:
        """Freeze a request from values that `op.validate` already checked (a batch passes the wire form it
        computed once for all its images)."""
        wire = op.wire_fields(values) if wire is None else wire
        return cls(op, MappingProxyType(dict(values)), MappingProxyType(dict(wire)), upload, int(variation), account)

    @property
    def upload_bytes(self) -> bytes:
        return self.upload.data if isinstance(self.upload, Encoded) else self.upload.encode("utf-8")

    @property
    def upload_sha256(self) -> str:
        return hashlib.sha256(self.upload_bytes).hexdigest()

    @property
    def size_class(self) -> str | None:
        """How big the image is, coarsely (durations grow with it): for the progress estimate."""
        if not isinstance(self.upload, Encoded):
            return None
        mp = self.upload.width * self.upload.height / 1e6
        return "≤1MP" if mp <= 1.05 else "≤4MP" if mp <= 4.2 else "≤16MP" if mp <= 16.8 else ">16MP"

    @property
    def fingerprint(self) -> str:
        """What makes two requests the same paid work (the journal's key)."""
        canonical = json.dumps({"service": self.op.service, "op": self.op.id, "params": dict(sorted(self.wire.items())),
                                "upload": self.upload_sha256, "variation": self.variation, "account": self.account},
                               sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def account_id(base_url: str, secret: str) -> str:
    """Tells accounts apart without storing anything that reveals the key."""
    return hashlib.sha256(f"hdredraw-account\0{base_url.rstrip('/')}\0{secret}".encode()).hexdigest()[:16]
