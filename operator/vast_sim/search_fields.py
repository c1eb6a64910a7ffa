"""The fields an offer or volume search may name, and the strict check that refuses others.

Vast does not document what it does with an unknown search field (the vastai CLI only warns and
sends it anyway), so the simulator takes the strict side: with the `unknown_search_fields`
feature on, a field outside these lists answers 400 the way Vast refuses an unknown filter of
the instance list (oas:show_instances): "Error in query parameters: X is not a valid search key".
"""

from __future__ import annotations

from vast_sim.models import JSONDict
from vast_sim.query import QueryError

# The vastai CLI's `offers_fields` plus the properties of oas:search_offers (adds os_version).
OFFER_FIELDS = frozenset(
    """bw_nvlink compute_cap cpu_arch cpu_cores cpu_cores_effective cpu_ghz cpu_ram cuda_max_good
    datacenter direct_port_count driver_version disk_bw disk_space dlperf dlperf_per_dphtotal
    dph_total duration external flops_per_dphtotal gpu_arch gpu_display_active gpu_frac
    gpu_mem_bw gpu_name gpu_ram gpu_total_ram gpu_max_power gpu_max_temp has_avx host_id id
    inet_down inet_down_cost inet_up inet_up_cost machine_id min_bid mobo_name num_gpus pci_gen
    pcie_bw reliability rentable rented storage_cost static_ip total_flops ubuntu_version
    verification verified vms_enabled geolocation cluster_id os_version""".split()  # noqa: SIM905
)
# The CLI's `vol_offers_fields` (it sends cuda_vers unaliased here), plus `external`, which its
# default volume query always sends.
VOLUME_OFFER_FIELDS = frozenset(
    """cpu_arch cuda_vers cluster_id nw_disk_min_bw nw_disk_avg_bw nw_disk_max_bw datacenter
    disk_bw disk_space driver_version duration geolocation gpu_arch has_avx host_id id inet_down
    inet_up machine_id pci_gen pcie_bw reliability storage_cost static_ip total_flops
    ubuntu_version verified external""".split()  # noqa: SIM905
)
# Directives a strict search accepts: the documented ones and those Vast's own SDK sends
# (vastai 1.9.1 CLI). georegion / chunked / select_cols are client-side and refused.
SEARCH_DIRECTIVES = frozenset(
    """order type limit allocated_storage disable_bundling target_reliability extra_ids
    sort_option show_incompatible gpu_option template_id""".split()  # noqa: SIM905
)
# Columns one may order by without filtering on them (the CLI's default order is score-).
ORDER_ONLY_FIELDS = frozenset({"score"})


def check_search_fields(
    query: JSONDict, known: frozenset[str], order: list[tuple[str, bool]]
) -> None:
    """Raise QueryError for a filter or order field outside `known`."""
    for name in query:
        if name not in known and name not in SEARCH_DIRECTIVES:
            raise QueryError(f"Error in query parameters: {name} is not a valid search key")
    for name, _ in order:
        if name not in known and name not in ORDER_ONLY_FIELDS:
            raise QueryError(f"Error in query parameters: {name} is not a valid order key")
