"""The schemas of the node endpoints (issue 14, Ray backend): bodies validated, answers shown
in /openapi.json."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

NodeId = Field(min_length=1, max_length=128, pattern=r"^[0-9a-f]+$", examples=["a7035df45225"])


class MoveClient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: str = NodeId


class DrainChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    drain: bool = Field(description="true: drain the node; false: undo the drain")


class NodeInfo(BaseModel):
    id: str = Field(description="Ray's node id")
    address: str = Field(examples=["10.0.0.12"])
    host: str = ""
    alive: bool
    draining: bool
    slots: int = Field(description="its wamc_slots: how many clients may run there")
    free: int
    clients: list[str] = Field(description="clients holding a slot there (starting or running)")
    agent_pid: int | None = None
    memory_available_bytes: int | None = None
    memory_total_bytes: int | None = None
    cpu_percent: float | None = None
    cpus: int | None = None


class NodeList(BaseModel):
    backend: str = Field(examples=["ray"], description="local | ray (local: no nodes)")
    nodes: list[NodeInfo]


REQUESTS: tuple[type[BaseModel], ...] = (MoveClient, DrainChange)
MODELS: tuple[type[BaseModel], ...] = (MoveClient, DrainChange, NodeInfo, NodeList)
