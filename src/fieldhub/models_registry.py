"""Imports every module that defines tables, so that the metadata knows them all (migrations, tests)."""

from fieldhub.attachments import models as attachments_models
from fieldhub.core.bus import outbox
from fieldhub.core.identity import clients as client_models
from fieldhub.core.identity import models as identity_models
from fieldhub.core.tasks import models as task_models
from fieldhub.insight import models as insight_models
from fieldhub.insight.scans import models as insight_scan_models
from fieldhub.skylight import models as skylight_models
from fieldhub.skylight.media import models as media_models
from fieldhub.snapshots import models as snapshot_models

__all__ = [
    "attachments_models",
    "client_models",
    "identity_models",
    "insight_models",
    "insight_scan_models",
    "media_models",
    "outbox",
    "skylight_models",
    "snapshot_models",
    "task_models",
]
