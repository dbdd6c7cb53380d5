"""Imports every module that defines tables, so that the metadata knows them all (migrations, tests)."""

from fieldhub.core.bus import outbox
from fieldhub.core.identity import models as identity_models
from fieldhub.core.tasks import models as task_models
from fieldhub.skylight import models as skylight_models

__all__ = ["identity_models", "outbox", "skylight_models", "task_models"]
