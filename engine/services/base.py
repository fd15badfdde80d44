"""The shapes every service adapter speaks in, and the protocol it implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..operation import Operation
from ..request import TaskRequest

# Where a task stands, in the runner's words.
QUEUED, PROCESSING, DONE = "queued", "processing", "done"
UNKNOWN = "unknown"  # the answer carried no status at all (a few in a row: the service lost the task)


@dataclass(frozen=True)
class Call:
    """One HTTP call to make: method, path under the base URL, and what `Transport` sends with it."""

    method: str
    path: str
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    json: Any = None
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Status:
    """A status answer read into the common shape."""

    state: str  # QUEUED, PROCESSING, DONE or UNKNOWN (a failure raises instead)
    word: str = ""  # the service's own status word, for the status text
    fraction: float | None = None  # a progress fraction the service reported itself
    answer: Mapping[str, Any] = field(default_factory=dict)  # the whole (masked) answer, for `results`
    # Seconds after the wait began: the last ask still answered "running" (0 if none), and the answer "done".
    window: tuple[float, float] | None = None


@dataclass(frozen=True)
class ResultFile:
    """One file of a finished task: a URL to download, or markup the answer carried inline."""

    kind: str  # "images", "grid", "image_1x", "vector" or "svgs" (TaskResult's attribute)
    url: str = ""
    inline: bytes | None = None


@dataclass(frozen=True)
class Submitted:
    task_id: str
    remaining_count: int | None = None
    remaining_money: float | None = None


class Service(Protocol):
    id: str
    name: str  # shown in messages
    poll_interval: float  # seconds between status checks

    def credentials(self, settings: Any) -> tuple[str, str]:
        """(base URL, secret), or a ConfigError that says where to set them."""

    def submit_call(self, request: TaskRequest, secret: str) -> Call:
        """The request that creates the task."""

    def read_submit(self, answer: Mapping[str, Any]) -> Submitted:
        """The new task's id and balance, or the service's refusal as an error (nothing was created)."""

    def status_call(self, op: Operation, task_id: str, secret: str) -> Call:
        """The request that asks how the task is doing."""

    def read_status(self, answer: Mapping[str, Any], task_id: str) -> Status:
        """Where the task stands; raises TaskFailed (or a subclass) when the service says it failed."""

    def result_files(self, status: Status, task_id: str) -> tuple[list[ResultFile], dict[str, Any]]:
        """A finished task's files, and extras (prompt, remaining balance) for the result."""
