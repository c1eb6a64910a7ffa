"""The create body's `env` dict (variables, exposed ports, volume mounts), as the CLI builds it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["PortSpec", "VolumeMount", "build_env"]

_PORT_KEY_CHARS = re.compile(r"^[0-9:tcpudp/]+$")
_VOLUME_PATH = re.compile(r"^/[A-Za-z0-9./_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PortSpec(BaseModel):
    """An internal port to expose; Vast maps it to a random public port."""

    model_config = ConfigDict(frozen=True)

    port: int = Field(ge=1, le=99999)
    proto: Literal["tcp", "udp"] = "tcp"

    def env_key(self) -> str:
        suffix = "" if self.proto == "tcp" else f"/{self.proto}"
        key = f"-p {self.port}:{self.port}{suffix}"
        if not _PORT_KEY_CHARS.match(key[3:]):
            raise ValueError(f"invalid port mapping {key!r}")
        return key


class VolumeMount(BaseModel):
    """Mount an existing local volume (id from `GET /volumes`) at `path`."""

    model_config = ConfigDict(frozen=True)

    volume_id: int = Field(ge=1)
    path: str

    @field_validator("path")
    @classmethod
    def _linux_path(cls, value: str) -> str:
        if not _VOLUME_PATH.match(value):
            raise ValueError("mount path must be absolute and use only [A-Za-z0-9./_]")
        return value

    def env_key(self) -> str:
        return f"-v V.{self.volume_id}:{self.path}"


def build_env(
    variables: Mapping[str, str] | None = None,
    *,
    ports: Iterable[PortSpec | int] = (),
    volumes: Iterable[VolumeMount] = (),
) -> dict[str, str]:
    """Build the create body's `env` dict from structured inputs, as the CLI's `parse_env` does.

    Plain variables map to their values; each port becomes `"-p P:P": "1"` (`/udp` suffix for
    UDP); each volume mount becomes `"-v V.<id>:<path>": "1"`.
    """
    env: dict[str, str] = {}
    for name, value in (variables or {}).items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"invalid environment variable name {name!r}")
        env[name] = value
    for port in ports:
        spec = port if isinstance(port, PortSpec) else PortSpec(port=port)
        env[spec.env_key()] = "1"
    for mount in volumes:
        env[mount.env_key()] = "1"
    return env
