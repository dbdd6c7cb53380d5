"""Where gateways publish: the MQTT endpoint and topics handed out at provisioning.

A gateway publishes under ``{mqtt_topic_prefix}/gateway/{gateway_id}``; the events part ingests
those messages (and authorises them by the gateway's certificate).
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from fieldhub.core.config import Settings

TOPIC_ROOT = "insight"


def gateway_topic_prefix(realm_id: uuid.UUID) -> str:
    return f"{TOPIC_ROOT}/{realm_id}"


def mqtt_endpoint(settings: Settings) -> str | None:
    """The TLS listener gateways connect to with their client certificate (None: none runs)."""
    if settings.mqtt_url:
        # The external broker's URL may carry fieldhub's own credentials: only its address is shown.
        parts = urlsplit(settings.mqtt_url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"
    if not settings.mqtts_port:
        return None
    host = settings.mqtt_hostnames[0] if settings.mqtt_hostnames else settings.host
    return f"mqtts://{host}:{settings.mqtts_port}"
