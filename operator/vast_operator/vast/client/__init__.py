"""The Vast REST client: `VastClient` joins one mixin per API area over one `Transport`.

- `transport`: `_request` (the only code that talks to httpx), decoding, error mapping, the retry
  policy, the per-request observer and parsing of answers into models.
- `offers`: search offers, rent one.
- `instances`: list (paged), get, destroy, start/stop/label/reboot, bid, SSH keys.
- `logs`: an instance's log (request_logs, then the text at result_url, fetched without the key).
- `volumes`: volume offers, create/list/delete local volumes.
- `endpoints`: serverless endpoints and workergroups.
- `templates`: the private templates workergroups run.
- `users`: the key's account.
"""

from .instances import MAX_PAGE_SIZE, MAX_PAGES
from .transport import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_BUDGET,
    DEFAULT_TIMEOUT,
    RequestObserver,
)
from .vast_client import VastClient
from .volumes import VolumeKind

__all__ = [
    "DEFAULT_BACKOFF_BASE",
    "DEFAULT_BACKOFF_MAX",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_RETRY_BUDGET",
    "DEFAULT_TIMEOUT",
    "MAX_PAGES",
    "MAX_PAGE_SIZE",
    "RequestObserver",
    "VastClient",
    "VolumeKind",
]
