"""Request and response models named after the Insight spec's objects."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ROLE_NAMES = ("ADMIN_ROLE", "USER_ROLE")
CONSENT_TYPES = ("PRIVACY_POLICY", "TERMS_AND_CONDITIONS_AGREEMENT", "CONNECTED_POLICY")
CONNECTIVITY_STATUSES = ("NOT_REGISTERED", "REGISTERING", "ACTIVE", "INACTIVE")
EMAIL = re.compile(r"^[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
SEMVER = re.compile(r"^\d{1,9}\.\d{1,9}\.\d{1,9}([-+][0-9A-Za-z.+-]{1,40})?$")
MAX_BULK_GATEWAYS = 500
#: Each package is a zip with a QR code written to the blob store inside one transaction.
MAX_PACKAGE_GATEWAYS = 100


def _printable(value: str) -> str:
    """Text every engine stores as given: no control characters (NUL breaks PostgreSQL), no lone
    surrogates, and not blank."""
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _email(value: str) -> str:
    if not EMAIL.match(value):
        raise ValueError("must be an email address")
    return value.lower()


def _semver(value: str) -> str:
    if not SEMVER.match(value):
        raise ValueError("must be a semantic version such as 1.2.3")
    return value


Text128 = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_printable)]
Email = Annotated[str, Field(max_length=128), AfterValidator(_email)]
Semver = Annotated[str, Field(max_length=64), AfterValidator(_semver)]
RoleName = Literal["ADMIN_ROLE", "USER_ROLE"]


class RequestModel(BaseModel):
    # An unknown field is a 400, not silently ignored: a misspelt change must not look applied.
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    title: str = Field(description="The title of the error.")
    details: str = Field(description="Gives more information about the failure reason.")


class Links(BaseModel):
    next: str | None = None


class Metadata(BaseModel):
    description: str | None = None
    size: int
    filters: list[dict[str, Any]] = []


# auth ---------------------------------------------------------------------------------------
class AuthInformation(BaseModel):
    region: str
    customer_id: str
    user_pool_client_id: str
    user_pool_id: str


class SetPasswordRequest(RequestModel):
    token: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)


# users --------------------------------------------------------------------------------------
class ConsentStamp(BaseModel):
    version: str
    timestamp: int


class User(BaseModel):
    id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str
    created: int
    last_updated: int
    language: str | None = None
    roles: list[str]
    permissions: list[str]
    consent_general_terms: ConsentStamp | None = None
    consent_privacy_policy: ConsentStamp | None = None


class UserPage(BaseModel):
    items: list[User]
    links: Links
    metadata: Metadata


class UserCreate(RequestModel):
    first_name: Text128
    last_name: Text128
    role: RoleName
    email: Email


class UserPatch(RequestModel):
    """The spec documents no body; these are the fields a user has (docs/insight.md)."""

    first_name: Text128 | None = None
    last_name: Text128 | None = None
    role: RoleName | None = None
    language: Annotated[str, Field(max_length=64), AfterValidator(_printable)] | None = None


class Role(BaseModel):
    name: str
    description: str
    permissions: list[str]


class RolePage(BaseModel):
    items: list[Role]
    links: Links
    metadata: Metadata


class ConsentVersion(BaseModel):
    version: str
    agreed_on: int


class ConsentVersions(BaseModel):
    versions: list[ConsentVersion]


class Consents(BaseModel):
    privacy_policy: ConsentVersions | None = None
    terms_and_conditions_agreement: ConsentVersions | None = None
    connected_policy: ConsentVersions | None = None


class ConsentsGiven(RequestModel):
    privacy_policy_version: Semver | None = None
    terms_and_conditions_version: Semver | None = None
    connected_policy_version: Semver | None = None


# gateways -----------------------------------------------------------------------------------
class Gateway(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    model: str | None = None
    manufacturer: str | None = None
    class_: Literal["gateway"] = Field(default="gateway", alias="class")
    type: Literal["stationary", "mobile"] = "stationary"
    firmware: str | None = None
    created: int
    last_updated: int
    usecase: str
    station: str
    thing_name: str
    name: str
    connectivity_status: Literal["NOT_REGISTERED", "REGISTERING", "ACTIVE", "INACTIVE"]


class GatewayPage(BaseModel):
    items: list[Gateway]
    links: Links
    metadata: Metadata


class GatewayCreate(RequestModel):
    usecase: Text128
    station: Text128
    name: Text128


class GatewayBulkCreate(RequestModel):
    gateways: list[GatewayCreate] = Field(min_length=1, max_length=MAX_BULK_GATEWAYS)


class GatewayPatch(RequestModel):
    usecase: Text128 | None = None
    station: Text128 | None = None
    name: Text128 | None = None


class ProvisioningPreparation(BaseModel):
    registration_path: str
    token: str


class ProvisioningRequest(RequestModel):
    token: str = Field(min_length=1, max_length=256)


class Provisioning(BaseModel):
    mqtt_endpoint: str | None
    mqtt_topic_prefix: str
    certificate_common_name: str
    gateway: Gateway
    pkcs12: str


class PackageGateway(RequestModel):
    gateway_id: str | None = Field(default=None, max_length=64)
    gateway_name: Text128 | None = None


class Wifi(RequestModel):
    ssid: Annotated[str, Field(max_length=64), AfterValidator(_printable)] | None = None
    password: str | None = Field(default=None, max_length=128)
    authentication_type: Annotated[str, Field(max_length=32), AfterValidator(_printable)] | None = None


class ProvisioningPackageRequest(RequestModel):
    gateways: list[PackageGateway] = Field(min_length=1, max_length=MAX_PACKAGE_GATEWAYS)
    wifi: Wifi | None = None


class PackageLink(BaseModel):
    gateway_id: str
    package_url: str


class ProvisioningPackages(BaseModel):
    gateways: list[PackageLink]


# scanners and configs -----------------------------------------------------------------------
class Device(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    class_: Literal["device"] = Field(default="device", alias="class")
    created: int
    last_activity_time: int | None = None
    last_updated: int
    battery: int | None = None
    firmware: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    status: Literal["ACTIVE", "INACTIVE"]


class DevicePage(BaseModel):
    items: list[Device]
    links: Links
    metadata: Metadata


class DeviceUpdate(RequestModel):
    status: Literal["ACTIVE", "INACTIVE"]


class DeviceConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    class_: Literal["device_config"] = Field(default="device_config", alias="class")
    name: str
    last_modified: int
    created: int
    file_size: int


class DeviceConfigs(BaseModel):
    configs: list[DeviceConfig]
