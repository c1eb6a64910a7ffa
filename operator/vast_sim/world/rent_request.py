"""Validation of a rent request (`PUT /asks/{id}/`): instance fields and volume links.

Pure functions: they read the world's records they are given and raise `VastError` with the
API's 400 answer; nothing is created here.
"""

from __future__ import annotations

import re

from vast_sim.docker_env import parse_env
from vast_sim.errors import VastError, vast_error
from vast_sim.models import JSONDict, Machine, Template, Volume
from vast_sim.world.params import VOLUME_NAME_RE, num

MIN_DISK_GB = 8.0
RUNTYPE_TOKENS = frozenset(
    {
        "ssh",
        "jupyter",
        "args",
        "ssh_proxy",
        "ssh_direc",
        "ssh_direct",
        "jupyter_proxy",
        "jupyter_direc",
        "jupyter_direct",
    }
)


def _bad(offer_id: int, msg: str, error: str = "invalid_args") -> VastError:
    return vast_error(400, error, f"error 400/3467: Invalid args: {msg}", ask_id=offer_id)


def instance_spec(
    offer_id: int, body: JSONDict, static: JSONDict, templates: dict[str, Template]
) -> JSONDict:
    """The validated instance fields of a rent request (`PUT /asks/{id}/` body).

    Fields are checked in a fixed order, so the first error of a bad request is always the same.
    """
    template = _template(offer_id, body, templates)
    image = _image(offer_id, body, template)
    disk = _disk(offer_id, body, static)
    bid_price = _bid_price(offer_id, body, static)
    label = _label(offer_id, body)
    env = _env(offer_id, body, template)
    runtype = _runtype(offer_id, body, template)
    onstart, args = _onstart_and_args(offer_id, body, template)
    return {
        "image": image,
        "disk": disk,
        "is_bid": bid_price is not None,
        "bid_price": bid_price,
        "label": label,
        "env": env,
        "runtype": " ".join(runtype.split()),
        "onstart": onstart,
        "args": args,
        "template_id": template.id if template else None,
        "template_hash_id": template.hash_id if template else None,
        "template_name": template.name if template else None,
        "image_login": body.get("image_login"),
    }


def _template(offer_id: int, body: JSONDict, templates: dict[str, Template]) -> Template | None:
    template_hash = body.get("template_hash_id")
    if not template_hash:
        return None
    template = templates.get(str(template_hash))
    if template is None:
        raise _bad(offer_id, f"template_hash_id {template_hash} does not exist")
    return template


def _image(offer_id: int, body: JSONDict, template: Template | None) -> str:
    image = body.get("image")
    if image is not None and not isinstance(image, str):
        raise _bad(offer_id, "image must be a string")
    if not image and template is not None:
        image = f"{template.image}:{template.tag}" if template.tag else template.image
    if not image:
        raise _bad(offer_id, "image is required (or a template_hash_id)")
    if len(image) > 1024:
        raise _bad(offer_id, "image is longer than 1024 characters")
    return str(image)


def _disk(offer_id: int, body: JSONDict, static: JSONDict) -> float:
    disk_raw = body.get("disk")
    try:
        disk = float(MIN_DISK_GB if disk_raw is None else disk_raw)
    except (TypeError, ValueError):
        raise _bad(offer_id, "disk must be a number") from None
    if disk < MIN_DISK_GB:
        raise _bad(offer_id, f"disk must be at least {MIN_DISK_GB:g} GB")
    if disk > static["disk_space"]:
        raise _bad(
            offer_id,
            f"requested disk {disk:g} GB exceeds the {static['disk_space']:g} GB this offer has",
        )
    return disk


def _bid_price(offer_id: int, body: JSONDict, static: JSONDict) -> float | None:
    """The bid of an interruptible rental; None for on-demand (no price sent)."""
    price = body.get("price")
    if price is None:
        return None
    try:
        bid_price = float(price)
    except (TypeError, ValueError):
        raise _bad(offer_id, "price must be a number", "invalid_price") from None
    if not 0.001 <= bid_price <= 128.0:
        raise _bad(offer_id, "price must be between 0.001 and 128.0", "invalid_price")
    if bid_price < static["min_bid"]:
        raise _bad(
            offer_id,
            f"bid price ${bid_price:.4f}/hr is below the current minimum bid "
            f"${static['min_bid']:.4f}/hr",
            "invalid_price",
        )
    return bid_price


def _label(offer_id: int, body: JSONDict) -> str | None:
    label = body.get("label")
    if label is None:
        return None
    label = str(label)
    if len(label) > 256:
        raise _bad(offer_id, "label is longer than 256 characters")
    return label


def _env(offer_id: int, body: JSONDict, template: Template | None) -> dict[str, str]:
    """The template's env overlaid with the request's (a docker options string or a dict)."""
    env_raw = body.get("env")
    env: dict[str, str] = {}
    if template is not None:
        env.update(parse_env(template.env))
    if isinstance(env_raw, str):
        env.update(parse_env(env_raw))
    elif isinstance(env_raw, dict):
        env.update({str(k): "" if v is None else str(v) for k, v in env_raw.items()})
    elif env_raw is not None:
        raise _bad(offer_id, "env must be an object or a docker options string")
    return env


def _runtype(offer_id: int, body: JSONDict, template: Template | None) -> str:
    runtype = body.get("runtype")
    if runtype is None:
        runtype = template.runtype if template is not None else "ssh"
    if not isinstance(runtype, str) or not runtype.split():
        raise _bad(offer_id, "runtype must be a string")
    unknown = [t for t in runtype.split() if t not in RUNTYPE_TOKENS]
    if unknown:
        raise _bad(offer_id, f"unknown runtype {' '.join(unknown)}")
    return runtype


def _onstart_and_args(
    offer_id: int, body: JSONDict, template: Template | None
) -> tuple[str | None, list[str] | None]:
    onstart = body.get("onstart")
    if onstart is None and template is not None:
        onstart = template.onstart
    args = body.get("args")
    if args is not None:
        if not isinstance(args, list):
            raise _bad(offer_id, "args must be a list of strings")
        args = [str(a) for a in args]
    if args is None and isinstance(body.get("args_str"), str):
        args = body["args_str"].split()
    if len(onstart or "") + sum(len(a) for a in args or []) > 4096:
        raise _bad(offer_id, "onstart and args together exceed 4096 characters")
    return onstart, args


def volume_links(
    body: JSONDict,
    env: dict[str, str],
    machine: Machine,
    offer_id: int,
    vol_offer_index: dict[int, int],
    volumes: dict[int, Volume],
) -> list[JSONDict]:
    """Validate volume_info and `-v V.<id>:<path>` env entries; nothing is created yet."""
    links: list[JSONDict] = []
    info = body.get("volume_info")
    if info is not None:
        links.append(_volume_info_link(info, machine, offer_id, vol_offer_index))
    for key in env:
        match = re.match(r"^-v V\.(\d+):(/.*)$", key)
        if match:
            links.append({"volume_id": int(match.group(1)), "mount_path": match.group(2)})
    for link in links:
        if not link.get("create"):
            _check_existing_volume(int(link["volume_id"]), machine, offer_id, volumes)
    return links


def _volume_info_link(
    info: object, machine: Machine, offer_id: int, vol_offer_index: dict[int, int]
) -> JSONDict:
    """The link `volume_info` asks for: an existing volume, or a new one from a volume offer."""
    if not isinstance(info, dict):
        raise _bad(offer_id, "volume_info must be an object")
    mount = info.get("mount_path")
    if not isinstance(mount, str) or not mount.startswith("/"):
        raise _bad(offer_id, "volume_info.mount_path must be an absolute path")
    try:
        volume_id = int(info.get("volume_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _bad(offer_id, "volume_info.volume_id must be an integer") from None
    if not info.get("create_new"):
        return {"volume_id": volume_id, "mount_path": mount}
    if vol_offer_index.get(volume_id) != machine.machine_id:
        raise _bad(
            offer_id,
            f"volume offer {volume_id} is not on machine {machine.machine_id} of offer {offer_id}",
        )
    size = num(info.get("size"), "volume_info.size", default=15.0, minimum=1.0)
    if size > machine.vol_space_free:
        raise _bad(
            offer_id, f"volume size {size:g} GB exceeds the free {machine.vol_space_free:g} GB"
        )
    name = info.get("name")
    if name is not None and not VOLUME_NAME_RE.match(str(name)):
        raise _bad(offer_id, "volume name must be 1-64 letters, digits or underscores")
    return {"create": True, "size": size, "name": name, "mount_path": mount}


def _check_existing_volume(
    volume_id: int, machine: Machine, offer_id: int, volumes: dict[int, Volume]
) -> None:
    vol = volumes.get(volume_id)
    if vol is None:
        raise _bad(offer_id, f"volume {volume_id} does not exist")
    if vol.machine_id != machine.machine_id:
        raise _bad(
            offer_id,
            f"volume {vol.id} lives on machine {vol.machine_id}, offer {offer_id} "
            f"is on machine {machine.machine_id}",
        )
