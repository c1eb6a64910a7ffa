"""The Vast REST routes (the minimal route table, and what the vastai 1.9.1 CLI uses).

This module is the route table; the handlers live in one module per API area (offers,
instances, ssh_keys, volumes, serverless, account). Paths are written in canonical form (see
paths.py): /api/v0 prefix, trailing slash. Each handler takes a `Call` and returns a Starlette
response; world operations raise `VastError` for the API's error answers.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from vast_sim.app import Handler, Sim, VastRoute
from vast_sim.vast_api.account import (
    create_secret,
    create_template,
    current_user,
    delete_secret,
    delete_template,
    edit_template,
    list_secrets,
    search_templates,
    update_secret,
)
from vast_sim.vast_api.instances import (
    answer_price_increase,
    bulk_destroy,
    bulk_manage,
    change_bid,
    destroy_instance,
    execute,
    instance_filters,
    list_instances_v0,
    list_instances_v1,
    manage_instance,
    reboot_instance,
    recycle_instance,
    request_logs,
    show_instance,
)
from vast_sim.vast_api.offers import (
    create_instance,
    gpu_names,
    gpu_types,
    launch_instance,
    search_asks,
    search_offers,
    search_offers_legacy,
)
from vast_sim.vast_api.serverless import (
    create_endpoint,
    create_workergroup,
    delete_endpoint,
    delete_workergroup,
    endpoint_workers,
    list_endpoints,
    list_workergroups,
    route_request,
    show_endpoint,
    show_workergroup,
    update_endpoint,
    update_workergroup,
)
from vast_sim.vast_api.ssh_keys import (
    attach_ssh,
    create_account_key,
    delete_account_key,
    detach_ssh,
    instance_ssh_keys,
    list_account_keys,
    update_account_key,
)
from vast_sim.vast_api.volumes import (
    create_volume,
    delete_volume,
    list_volumes,
    search_network_volumes,
    search_volumes,
)


def routes(sim: Sim) -> list[BaseRoute]:
    def r(path: str, methods: str, handler: Handler, auth: str = "required") -> VastRoute:
        return VastRoute(path, handler, methods.split(","), sim, auth)

    v0 = "/api/v0"
    out: list[BaseRoute] = [
        r(f"{v0}/bundles/", "POST", search_offers, "optional"),
        r(f"{v0}/bundles/", "GET", search_offers_legacy, "optional"),
        r(f"{v0}/search/asks/", "PUT", search_asks, "optional"),
        r(f"{v0}/asks/{{id}}/", "PUT", create_instance),
        r(f"{v0}/launch_instance/", "PUT", launch_instance),
        r("/api/v1/instances/", "GET", list_instances_v1),
        r(f"{v0}/instances/", "GET", list_instances_v0),
        r(f"{v0}/instances/", "PUT", bulk_manage),
        r(f"{v0}/instances/", "DELETE", bulk_destroy),
        r(f"{v0}/instances/filters/", "GET", instance_filters),
        r(f"{v0}/instances/reboot/{{id}}/", "PUT", reboot_instance, "instance"),
        r(f"{v0}/instances/recycle/{{id}}/", "PUT", recycle_instance, "instance"),
        r(f"{v0}/instances/bid_price/{{id}}/", "PUT", change_bid),
        r(f"{v0}/instances/price_increase/{{id}}/", "PUT", answer_price_increase),
        r(f"{v0}/instances/request_logs/{{id}}/", "PUT", request_logs, "instance"),
        r(f"{v0}/instances/command/{{id}}/", "PUT", execute),
        r(f"{v0}/instances/{{id}}/ssh/", "POST", attach_ssh),
        r(f"{v0}/instances/{{id}}/ssh/", "GET", instance_ssh_keys),
        r(f"{v0}/instances/{{id}}/ssh/{{key_id}}/", "DELETE", detach_ssh),
        r(f"{v0}/instances/{{id}}/", "GET", show_instance, "instance"),
        r(f"{v0}/instances/{{id}}/", "PUT", manage_instance, "instance"),
        r(f"{v0}/instances/{{id}}/", "DELETE", destroy_instance, "instance"),
        r(f"{v0}/ssh/", "GET", list_account_keys),
        r(f"{v0}/ssh/", "POST", create_account_key),
        r(f"{v0}/ssh/{{id}}/", "PUT", update_account_key),
        r(f"{v0}/ssh/{{id}}/", "DELETE", delete_account_key),
        r(f"{v0}/volumes/search/", "POST", search_volumes, "optional"),
        r(f"{v0}/network_volumes/search/", "POST", search_network_volumes, "optional"),
        r(f"{v0}/volumes/", "PUT", create_volume),
        r(f"{v0}/volumes/", "GET", list_volumes),
        r(f"{v0}/volumes/", "DELETE", delete_volume),
        r(f"{v0}/endptjobs/", "POST", create_endpoint),
        r(f"{v0}/endptjobs/", "GET", list_endpoints),
        r(f"{v0}/endptjobs/{{id}}/", "GET", show_endpoint),
        r(f"{v0}/endptjobs/{{id}}/", "PUT", update_endpoint),
        r(f"{v0}/endptjobs/{{id}}/", "DELETE", delete_endpoint),
    ]
    for group in ("autojobs", "workergroups"):
        out += [
            r(f"{v0}/{group}/", "POST", create_workergroup),
            r(f"{v0}/{group}/", "GET", list_workergroups),
            r(f"{v0}/{group}/{{id}}/", "GET", show_workergroup),
            r(f"{v0}/{group}/{{id}}/", "PUT", update_workergroup),
            r(f"{v0}/{group}/{{id}}/", "DELETE", delete_workergroup),
        ]
    out += [
        r(f"{v0}/template/", "GET", search_templates),
        r(f"{v0}/template/", "POST", create_template),
        r(f"{v0}/template/", "PUT", edit_template),
        r(f"{v0}/template/", "DELETE", delete_template),
        r(f"{v0}/secrets/", "GET", list_secrets),
        r(f"{v0}/secrets/", "POST", create_secret),
        r(f"{v0}/secrets/", "PUT", update_secret),
        r(f"{v0}/secrets/", "DELETE", delete_secret),
        r(f"{v0}/users/current/", "GET", current_user),
        r(f"{v0}/gpu_names/unique/", "GET", gpu_names, "none"),
        r(f"{v0}/gpu_types/", "GET", gpu_types, "none"),
        r("/route/", "POST", route_request, "none"),
        r("/get_endpoint_workers/", "POST", endpoint_workers),
    ]
    return out
