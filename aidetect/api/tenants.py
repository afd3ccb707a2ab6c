"""Who may use the API, and in which namespaces: tenants, each a bearer token and its namespaces.

The tenants file (`AIDETECT_API_TENANTS_FILE`, YAML or JSON) lists them; a tenant whose namespaces
are `["*"]` is an admin, who may use every namespace. `AIDETECT_API_TOKEN`, when set, is one more
admin tenant named `admin`, so the single-token setup works as before. Tokens are kept only as
SHA-256 digests and compared digest to digest in constant time.

The file is read again when it changes (a stat per lookup), so that the kubelet's update of a
mounted Secret takes effect without a restart; a file that no longer parses leaves the previous
tenants in force, and says so in the log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

logger = logging.getLogger("aidetect.api")

ALL_NAMESPACES = "*"
# A namespace name is a DNS-1123 label.
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
NAMESPACE_MAX_LENGTH = 63
LEGACY_TENANT = "admin"


class TenantsFileError(ValueError):
    """The tenants file is missing, unreadable or not in the documented shape."""


class TenantEntry(BaseModel):
    """One tenant as the file writes it: a name, `token` or `sha256` (one of them), namespaces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=63, pattern=NAMESPACE_PATTERN)
    token: SecretStr | None = Field(default=None, description="The bearer token itself.")
    sha256: str | None = Field(
        default=None, pattern="^[0-9a-f]{64}$", description="Hex SHA-256 of the bearer token."
    )
    namespaces: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_token_and_valid_namespaces(self) -> TenantEntry:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError(f"tenant {self.name}: set exactly one of token or sha256")
        if self.token is not None and not self.token.get_secret_value():
            raise ValueError(f"tenant {self.name}: the token is empty")
        if ALL_NAMESPACES in self.namespaces:
            if self.namespaces != [ALL_NAMESPACES]:
                raise ValueError(f"tenant {self.name}: '*' (all namespaces) stands alone")
            return self
        bad = [n for n in self.namespaces if not _is_namespace(n)]
        if bad:
            raise ValueError(f"tenant {self.name}: not namespace names (DNS-1123 labels): {bad}")
        return self

    def digest(self) -> bytes:
        if self.sha256 is not None:
            return bytes.fromhex(self.sha256)
        assert self.token is not None
        return token_digest(self.token.get_secret_value())


class TenantsFile(BaseModel):
    """The whole file: `{"tenants": [...]}`, at least one, names and tokens unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenants: list[TenantEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TenantsFile:
        names = [t.name for t in self.tenants]
        if len(set(names)) != len(names):
            raise ValueError("tenant names must be unique")
        digests = [t.digest() for t in self.tenants]
        if len(set(digests)) != len(digests):
            raise ValueError("two tenants share a token")
        return self


def _is_namespace(name: str) -> bool:
    return len(name) <= NAMESPACE_MAX_LENGTH and re.fullmatch(NAMESPACE_PATTERN, name) is not None


def token_digest(token: str) -> bytes:
    """SHA-256 of the token's UTF-8 bytes (what a tenant's `sha256` holds, in hex)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


@dataclass(frozen=True)
class Tenant:
    """A caller the API knows: its name and the namespaces it may create in, read and cancel."""

    name: str
    namespaces: tuple[str, ...] | None  # None: every namespace (an admin)
    digest: bytes = field(default=b"", repr=False)

    @property
    def is_admin(self) -> bool:
        return self.namespaces is None

    def may_use(self, namespace: str) -> bool:
        return self.namespaces is None or namespace in self.namespaces

    def default_namespace(self, fallback: str) -> str:
        """Where a task goes when the request names no namespace: the first one listed."""
        return fallback if self.namespaces is None else self.namespaces[0]


# Who the caller is when auth is off: anyone, everywhere.
ANONYMOUS_ADMIN = Tenant(name="anonymous", namespaces=None)


def parse_tenants(text: str, source: str = "tenants file") -> list[Tenant]:
    """The tenants of a YAML or JSON document; raises TenantsFileError naming what is wrong."""
    try:
        document = yaml.safe_load(text)
        parsed = TenantsFile.model_validate(document)
    except yaml.YAMLError as e:
        raise TenantsFileError(f"{source} is not YAML or JSON: {e}") from e
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}" for err in e.errors()
        )
        raise TenantsFileError(f"{source} is invalid: {problems}") from e
    return [
        Tenant(
            name=t.name,
            namespaces=None if t.namespaces == [ALL_NAMESPACES] else tuple(t.namespaces),
            digest=t.digest(),
        )
        for t in parsed.tenants
    ]


def find_tenant(tenants: Sequence[Tenant], token: str) -> Tenant | None:
    """The tenant whose token this is. Every digest is compared, so the time says nothing."""
    presented = token_digest(token)
    found: Tenant | None = None
    for tenant in tenants:
        if hmac.compare_digest(presented, tenant.digest) and found is None:
            found = tenant
    return found


def _stat_key(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()  # follows the kubelet's ..data symlink to the current file
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class TenantRegistry:
    """The tenants in force: the legacy admin token plus the file's, re-read when it changes."""

    def __init__(self, tenants_file: str | None, admin_token: str = "") -> None:
        self._path = Path(tenants_file).expanduser() if tenants_file else None
        self._legacy = (
            [Tenant(LEGACY_TENANT, None, token_digest(admin_token))] if admin_token else []
        )
        self._lock = threading.Lock()
        self._key: tuple[int, int, int, int] | None = None
        self._from_file: list[Tenant] = []
        if self._path is not None:
            self._key = _stat_key(self._path)
            self._from_file = self._read()  # a bad file at start is fatal: raise
            logger.info("loaded %d tenants from %s", len(self._from_file), self._path)

    def _read(self) -> list[Tenant]:
        assert self._path is not None
        try:
            text = self._path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise TenantsFileError(f"cannot read the tenants file {self._path}: {e}") from e
        return parse_tenants(text, str(self._path))

    def _refresh(self) -> None:
        if self._path is None:
            return
        key = _stat_key(self._path)
        if key == self._key:
            return
        with self._lock:
            if key == self._key:
                return
            self._key = key
            try:
                self._from_file = self._read()
            except TenantsFileError as e:
                logger.error("%s; keeping the %d tenants loaded before", e, len(self._from_file))
                return
            logger.info("reloaded %d tenants from %s", len(self._from_file), self._path)

    def tenants(self) -> list[Tenant]:
        """Every tenant in force now."""
        self._refresh()
        return [*self._legacy, *self._from_file]

    def find(self, token: str) -> Tenant | None:
        return find_tenant(self.tenants(), token)
