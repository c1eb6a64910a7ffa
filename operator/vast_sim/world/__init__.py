"""The world model: market, instances, volumes, endpoints, workergroups, keys, templates.

`World` is plain Python guarded by one re-entrant lock, so it can be driven from the HTTP
handlers and, in-process, from test code in another thread. Every public method takes the lock;
every mutation bumps `version`, which the persister watches to write the state file.
Operations raise `VastError` with the status and body the real API answers with.

The records and their bookkeeping live in `WorldState` (state.py); each API area is a mixin
over it in its own module (offers, instances, instance_list, management, ssh_keys, volumes,
endpoints, templates, account, logs, market, admin), and `World` composes them.
"""

from __future__ import annotations

from vast_sim.world.account import AccountMixin
from vast_sim.world.admin import AdminMixin
from vast_sim.world.endpoints import EndpointsMixin
from vast_sim.world.instance_list import InstanceListMixin
from vast_sim.world.instances import InstanceLifecycleMixin
from vast_sim.world.logs import LogsMixin
from vast_sim.world.management import InstanceManagementMixin
from vast_sim.world.market import MarketMixin
from vast_sim.world.offers import OffersMixin
from vast_sim.world.ssh_keys import SshKeysMixin
from vast_sim.world.state import STATE_FORMAT, WorldState
from vast_sim.world.templates import TemplatesMixin
from vast_sim.world.volumes import VolumesMixin

__all__ = ["STATE_FORMAT", "World", "WorldState"]


class World(
    OffersMixin,
    InstanceLifecycleMixin,
    InstanceListMixin,
    InstanceManagementMixin,
    SshKeysMixin,
    VolumesMixin,
    EndpointsMixin,
    TemplatesMixin,
    AccountMixin,
    LogsMixin,
    MarketMixin,
    AdminMixin,
):
    """Everything the simulated Vast account and market contain, with every API operation."""
