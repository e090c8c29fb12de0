"""Is timm's model hub (the Hugging Face Hub) reachable? Asked before pretrained weights are fetched.

Offline, ``huggingface_hub`` retries and times out for about 50 s before timm raises. A TCP connect
to the hub's endpoint, bounded in time, says in a few seconds whether to try the hub at all; when it
cannot be reached, weights are read from the local cache only (``offline_hub``), which either has
them or fails at once.
"""
from __future__ import annotations

import contextlib
import socket
import threading
from typing import Iterator
from urllib.parse import urlsplit

PROBE_SECONDS = 5.0  # the whole probe, name resolution included (which a socket timeout does not bound)


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or ``offline_hub``) is set: the hub is not asked."""
    from huggingface_hub import constants

    return constants.is_offline_mode()


def hub_reachable(timeout: float = PROBE_SECONDS) -> bool:
    """Whether a TCP connection to the hub's endpoint opens within ``timeout`` seconds."""
    url = urlsplit(hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    result: list[bool] = []

    def connect() -> None:
        try:
            socket.create_connection((url.hostname, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    probe = threading.Thread(target=connect, daemon=True)  # a stuck DNS lookup is left behind, not waited for
    probe.start()
    probe.join(timeout)
    return bool(result and result[0])


@contextlib.contextmanager
def offline_hub() -> Iterator[None]:
    """Within the block, ``huggingface_hub`` reads its local cache only (as with ``HF_HUB_OFFLINE=1``)."""
    from huggingface_hub import constants

    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous
