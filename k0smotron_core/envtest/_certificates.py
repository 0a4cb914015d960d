"""How nodes authenticate, as kube-apiserver and kube-controller-manager see to it.

- Who asks: `UserInfo` (name, uid, groups), from an admin/user bearer token, a bootstrap token
  (`--enable-bootstrap-token-auth`: a Secret `kube-system/bootstrap-token-<id>`) or a client certificate signed by
  the envtest's CA (user = subject CN, groups = subject O values). Every authenticated user is also in
  `system:authenticated`. The HTTP layer puts the requester of each request into `REQUEST`, where admission reads it.
- `certificates.k8s.io/v1` CertificateSigningRequests: `CSRAdmission` does what the registry strategy does
  (requester stamped into `spec.username/uid/groups` on create, spec immutable, status only through `/status`,
  approval conditions only through `/approval`, validation with the real messages).
- `CSRController` stands in for kube-controller-manager's csrapproving and csrsigning controllers: kubelet client
  CSRs of bootstrapping nodes (or of a node renewing its own certificate) are approved, and approved CSRs of the
  `kubernetes.io/kube-apiserver-client*` and `kubernetes.io/kubelet-serving` signers are signed by the cluster CA.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import datetime as dt
import hmac
import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .. import pki
from ._errors import FieldError, GoLiteral, StatusError, invalid
from ._registry import GroupResource, ResourceType
from ._storage import RequestContext, ResourceStorage, now_rfc3339
from ._store import Store, WatchEvent

AUTHENTICATED_GROUP: Final = "system:authenticated"
MASTERS_GROUP: Final = "system:masters"
BOOTSTRAPPERS_GROUP: Final = "system:bootstrappers"
BOOTSTRAP_USER_PREFIX: Final = "system:bootstrap:"
NODES_GROUP: Final = "system:nodes"
NODE_USER_PREFIX: Final = "system:node:"

CSRS: Final[GroupResource] = ("certificates.k8s.io", "certificatesigningrequests")
KUBELET_CLIENT_SIGNER: Final = "kubernetes.io/kube-apiserver-client-kubelet"
KUBE_APISERVER_CLIENT_SIGNER: Final = "kubernetes.io/kube-apiserver-client"
KUBELET_SERVING_SIGNER: Final = "kubernetes.io/kubelet-serving"
LEGACY_UNKNOWN_SIGNER: Final = "kubernetes.io/legacy-unknown"

CLUSTER_SIGNING_DURATION: Final = dt.timedelta(days=365)
"""kube-controller-manager's --cluster-signing-duration default (8760h)."""
_BACKDATE: Final = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class UserInfo:
    """An authenticated user, as an authenticator hands it to the rest of kube-apiserver."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestInfo:
    """Who sends the request being served and to which CSR endpoint ("", "status" or "approval") it goes."""

    user: UserInfo
    csr_endpoint: str = ""


ADMIN: Final = UserInfo("admin", groups=(MASTERS_GROUP, AUTHENTICATED_GROUP))
"""Writes that come from no HTTP request (`EnvTest.create`) are the admin's."""

REQUEST: ContextVar[RequestInfo | None] = ContextVar("envtest_request", default=None)


# --- authentication --------------------------------------------------------------------------------------------

_BOOTSTRAP_TOKEN: Final = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
_BOOTSTRAP_EXTRA_GROUP: Final = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")
_BOOTSTRAP_SECRET_TYPE: Final = "bootstrap.kubernetes.io/token"


def _secret_value(secret: Mapping[str, Any], key: str) -> str | None:
    encoded = (secret.get("data") or {}).get(key)
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _expired(expiration: str | None, now: dt.datetime) -> bool:
    """bootstrapsecretutil.HasExpired: no expiration never expires; an unparsable one counts as expired."""
    if not expiration:
        return False
    try:
        moment = dt.datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    except ValueError:
        return True
    if moment.tzinfo is None:
        return True
    return now > moment


def authenticate_bootstrap_token(store: Store, token: str, *, now: dt.datetime | None = None) -> UserInfo | None:
    """The bootstrap token authenticator (plugin/pkg/auth/authenticator/token/bootstrap): None when the bearer
    token is not a bootstrap token or its Secret does not vouch for it."""
    match = _BOOTSTRAP_TOKEN.match(token)
    if match is None:
        return None
    token_id, token_secret = match.groups()
    secret = store.get(("", "secrets"), "kube-system", f"bootstrap-token-{token_id}")
    if secret is None or secret["metadata"].get("deletionTimestamp"):
        return None
    if secret.get("type") != _BOOTSTRAP_SECRET_TYPE or not secret.get("data"):
        return None
    stored_secret = _secret_value(secret, "token-secret") or ""
    if not hmac.compare_digest(stored_secret.encode(), token_secret.encode()):
        return None
    if _secret_value(secret, "token-id") != token_id:
        return None
    if _expired(_secret_value(secret, "expiration"), now or dt.datetime.now(dt.UTC)):
        return None
    if _secret_value(secret, "usage-bootstrap-authentication") != "true":
        return None
    groups = {BOOTSTRAPPERS_GROUP}
    for group in (_secret_value(secret, "auth-extra-groups") or "").split(","):
        group = group.strip()
        if not group:
            continue
        if not _BOOTSTRAP_EXTRA_GROUP.match(group):
            return None
        groups.add(group)
    return UserInfo(BOOTSTRAP_USER_PREFIX + token_id, groups=(*sorted(groups), AUTHENTICATED_GROUP))


def user_from_peer_certificate(peercert: Any) -> UserInfo | None:
    """The x509 authenticator's user of a verified client certificate (`ssl`'s decoded form): CN and O values."""
    if not isinstance(peercert, dict):
        return None
    common_name = ""
    organizations: list[str] = []
    for rdn in peercert.get("subject") or ():
        for attribute, value in rdn:
            if attribute == "commonName":
                common_name = value
            elif attribute == "organizationName":
                organizations.append(value)
    if not common_name:
        return None
    return UserInfo(common_name, groups=(*organizations, AUTHENTICATED_GROUP))


# --- certificate requests ---------------------------------------------------------------------------------------

_KEY_USAGES: Final = {
    "signing": "digital_signature",
    "digital signature": "digital_signature",
    "content commitment": "content_commitment",
    "key encipherment": "key_encipherment",
    "key agreement": "key_agreement",
    "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
    "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}
_EXTENDED_KEY_USAGES: Final = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec end system": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec tunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec user": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft sgc": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape sgc": x509.ObjectIdentifier("2.16.840.1.113730.4.1"),
}
VALID_USAGES: Final = tuple(sorted({*_KEY_USAGES, *_EXTENDED_KEY_USAGES}))
_CONDITION_STATUSES: Final = ("False", "True", "Unknown")
_TRUE_ONLY_CONDITIONS: Final = frozenset({"Approved", "Denied", "Failed"})
_DNS1123_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class CSRParseError(ValueError):
    pass


def parse_request(request_b64: Any) -> x509.CertificateSigningRequest:
    """`spec.request` (base64 of PEM) as a CSR with a valid signature (certificates.ParseCSR + CheckSignature)."""
    if not isinstance(request_b64, str):
        raise CSRParseError("PEM block type must be CERTIFICATE REQUEST")
    try:
        pem = base64.b64decode(request_b64, validate=True)
    except (binascii.Error, ValueError):
        raise CSRParseError("PEM block type must be CERTIFICATE REQUEST") from None
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in pem:
        raise CSRParseError("PEM block type must be CERTIFICATE REQUEST")
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as exc:
        raise CSRParseError(f"asn1: structure error: {exc}") from None
    try:
        valid = csr.is_signature_valid
    except UnsupportedAlgorithm:
        valid = False
    if not valid:
        raise CSRParseError("x509: ECDSA verification failure")
    return csr


def _go_bytes(text: Any) -> GoLiteral:
    """Go's %#v of the []byte that `spec.request` decodes to."""
    try:
        data = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        data = str(text).encode()
    if not data:
        return GoLiteral("[]byte(nil)")
    return GoLiteral("[]byte{" + ", ".join(f"0x{b:x}" for b in data) + "}")


def _signer_name_errors(signer: Any) -> list[FieldError]:
    path = "spec.signerName"
    if not isinstance(signer, str) or not signer:
        return [FieldError("FieldValueRequired", path)]
    if signer == LEGACY_UNKNOWN_SIGNER:
        return [FieldError("FieldValueInvalid", path, "the legacy signerName is not allowed via this API version",
                           signer)]
    segments = signer.split("/")
    if len(segments) != 2:
        return [FieldError("FieldValueInvalid", path, "must be a fully qualified domain and path of the form "
                           "'example.com/signer-name'", signer)]
    domain, signer_path = segments
    errors: list[FieldError] = []
    labels = domain.split(".")
    for label in labels:
        if not _DNS1123_LABEL.match(label):
            errors.append(FieldError(
                "FieldValueInvalid", path,
                f'validating label "{label}": a lowercase RFC 1123 label must consist of lower case alphanumeric '
                "characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
                "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')", domain))
            break
    if len(labels) < 2:
        errors.append(FieldError("FieldValueInvalid", path,
                                 "should be a domain with at least two segments separated by dots", domain))
    if not _DNS1123_SUBDOMAIN.match(signer_path):
        errors.append(FieldError(
            "FieldValueInvalid", path,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
            "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')", signer_path))
    return errors


def _conditions(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    status = obj.get("status")
    if not isinstance(status, dict):
        return []
    return [c for c in status.get("conditions") or () if isinstance(c, dict)]


def _find(obj: Mapping[str, Any], type_: str) -> list[dict[str, Any]]:
    return [c for c in _conditions(obj) if c.get("type") == type_]


def _certificate_errors(certificate: Any) -> str | None:
    """validateCertificate: one or more CERTIFICATE PEM blocks that parse."""
    if not certificate:
        return None
    try:
        pem = base64.b64decode(str(certificate), validate=True)
    except (binascii.Error, ValueError):
        return "must contain at least one CERTIFICATE PEM block"
    blocks = re.findall(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", pem, re.DOTALL)
    if not blocks:
        return "must contain at least one CERTIFICATE PEM block"
    for label, _body in blocks:
        if label != b"CERTIFICATE":
            return f'only CERTIFICATE PEM blocks are allowed, found "{label.decode()}"'
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        return f"x509: malformed certificate: {exc}"
    return None


def _validate(new: dict[str, Any], old: dict[str, Any] | None, endpoint: str) -> list[FieldError]:
    """validateCertificateSigningRequest(+Update) for what can differ from the real validation here."""
    spec = new.get("spec") if isinstance(new.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    errors: list[FieldError] = []
    old_spec = (old or {}).get("spec") or {}
    if old is None:
        try:
            parse_request(spec.get("request"))
        except CSRParseError as exc:
            errors.append(FieldError("FieldValueInvalid", "spec.request", str(exc), _go_bytes(spec.get("request"))))
        usages = spec.get("usages") or []
        if not isinstance(usages, list) or not usages:
            errors.append(FieldError("FieldValueRequired", "spec.usages"))
            usages = []
        for index, usage in enumerate(usages):
            if usage not in VALID_USAGES:
                errors.append(FieldError("FieldValueNotSupported", f"spec.usages[{index}]",
                                         "supported values: " + ", ".join(f'"{u}"' for u in VALID_USAGES), usage))
        for index, usage in enumerate(usages):
            if usage in usages[:index]:
                errors.append(FieldError("FieldValueDuplicate", f"spec.usages[{index}]", "", usage))
        errors += _signer_name_errors(spec.get("signerName"))
        expiration = spec.get("expirationSeconds")
        if expiration is not None and (not isinstance(expiration, int) or expiration < 600):
            errors.append(FieldError("FieldValueInvalid", "spec.expirationSeconds",
                                     "may not specify a duration less than 600 seconds (10 minutes)", expiration))
    elif spec != old_spec:  # the strategies restore the spec, so this is an internal guard only
        errors.append(FieldError("FieldValueForbidden", "spec", "field is immutable"))
    conditions = _conditions(new)
    seen: set[str] = set()
    approved = denied = False
    for index, condition in enumerate(conditions):
        type_ = condition.get("type") or ""
        if not type_:
            errors.append(FieldError("FieldValueRequired", f"status.conditions[{index}].type"))
        status = condition.get("status") or ""
        allowed = ("True",) if type_ in _TRUE_ONLY_CONDITIONS else _CONDITION_STATUSES
        if not status:
            errors.append(FieldError("FieldValueRequired", f"status.conditions[{index}].status"))
        elif status not in allowed:
            errors.append(FieldError("FieldValueNotSupported", f"status.conditions[{index}].status",
                                     "supported values: " + ", ".join(f'"{s}"' for s in allowed), status))
        if type_ == "Approved":
            approved = True
            if denied:
                errors.append(FieldError("FieldValueInvalid", "status.conditions",
                                         "Approved and Denied conditions are mutually exclusive", type_))
        elif type_ == "Denied":
            denied = True
            if approved:
                errors.append(FieldError("FieldValueInvalid", "status.conditions",
                                         "Approved and Denied conditions are mutually exclusive", type_))
        if type_ in seen:
            errors.append(FieldError("FieldValueDuplicate", f"status.conditions[{index}].type", "", type_))
        seen.add(type_)
    certificate = (new.get("status") or {}).get("certificate")
    old_certificate = ((old or {}).get("status") or {}).get("certificate")
    if certificate != old_certificate:
        problem = _certificate_errors(certificate)
        if problem:
            errors.append(FieldError("FieldValueInvalid", "status.certificate", problem,
                                     GoLiteral('"<certificate data>"')))
    if old is not None:
        for type_ in ("Approved", "Denied", "Failed"):
            if len(_find(new, type_)) < len(_find(old, type_)):
                errors.append(FieldError("FieldValueForbidden", "status.conditions",
                                         f'updates may not remove a condition of type "{type_}"'))
        if endpoint != "approval":
            for type_ in ("Approved", "Denied"):
                before, after = _find(old, type_), _find(new, type_)
                if len(after) > len(before):
                    errors.append(FieldError("FieldValueForbidden", "status.conditions",
                                             f'updates may not add a condition of type "{type_}"'))
                elif len(after) == len(before) and after != before:
                    errors.append(FieldError("FieldValueForbidden", "status.conditions",
                                             f'updates may not modify a condition of type "{type_}"'))
        if certificate != old_certificate:
            if endpoint != "status":
                errors.append(FieldError("FieldValueForbidden", "status.certificate",
                                         "updates may not set certificate content"))
            elif old_certificate:
                errors.append(FieldError("FieldValueForbidden", "status.certificate",
                                         "updates may not modify existing certificate content"))
    return errors


def _populate_condition_timestamps(new: dict[str, Any], old: dict[str, Any] | None) -> None:
    now = now_rfc3339()
    old_conditions = _conditions(old or {})
    for condition in _conditions(new):
        if not condition.get("status"):
            condition["status"] = "True"  # SetDefaults_CertificateSigningRequestCondition
        if not condition.get("lastUpdateTime"):
            condition["lastUpdateTime"] = now
        if not condition.get("lastTransitionTime"):
            previous = next((c for c in old_conditions if c.get("type") == condition.get("type")
                             and c.get("status") == condition.get("status") and c.get("lastTransitionTime")), None)
            condition["lastTransitionTime"] = previous["lastTransitionTime"] if previous else now


def _preserve_condition_instances(new: dict[str, Any], old: dict[str, Any], type_: str) -> None:
    new_conditions = (new.get("status") or {}).get("conditions")
    old_instances = _find(old, type_)
    if not isinstance(new_conditions, list):
        return
    indices = [i for i, c in enumerate(new_conditions) if isinstance(c, dict) and c.get("type") == type_]
    if len(indices) != len(old_instances):
        return
    for index, instance in zip(indices, old_instances, strict=True):
        new_conditions[index] = copy.deepcopy(instance)


class CSRAdmission:
    """A `ResourceStorage.admission` hook with the CertificateSigningRequest registry strategies' behaviour."""

    def __call__(self, rt: ResourceType, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        if rt.group_resource != CSRS:
            return
        request = REQUEST.get()
        endpoint = request.csr_endpoint if request is not None else ""
        if old is None:
            user = request.user if request is not None else ADMIN
            spec = new.get("spec")
            if not isinstance(spec, dict):
                spec = new["spec"] = {}
            for key in ("username", "uid", "groups", "extra"):
                spec.pop(key, None)
            spec["username"] = user.name
            if user.uid:
                spec["uid"] = user.uid
            if user.groups:
                spec["groups"] = list(user.groups)
            new["status"] = {}  # users cannot create pre-approved requests
        else:
            new["spec"] = copy.deepcopy(old.get("spec") or {})
            status = new.get("status")
            if not isinstance(status, dict):
                status = new["status"] = {}
            if endpoint == "approval":
                old_certificate = (old.get("status") or {}).get("certificate")
                if old_certificate is None:
                    status.pop("certificate", None)
                else:
                    status["certificate"] = old_certificate
            elif endpoint == "status":
                # preserveConditionInstances: the status endpoint keeps the approval conditions as they were; if
                # their number changed, validation reports it.
                for type_ in ("Approved", "Denied"):
                    _preserve_condition_instances(new, old, type_)
            _populate_condition_timestamps(new, old)
        errors = _validate(new, old, endpoint)
        if errors:
            raise invalid("certificates.k8s.io", "CertificateSigningRequest", new["metadata"].get("name", ""),
                          errors)


# --- approving and signing ---------------------------------------------------------------------------------------


def _names(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in name.get_attributes_for_oid(oid)]


def _sans(request: x509.CertificateSigningRequest) -> x509.SubjectAlternativeName | None:
    try:
        return request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def kubelet_client_problem(request: x509.CertificateSigningRequest, usages: Iterable[str]) -> str | None:
    """ValidateKubeletClientCSR: why a request is not a kubelet client certificate request (None if it is)."""
    if _names(request.subject, NameOID.ORGANIZATION_NAME) != [NODES_GROUP]:
        return "subject organization is not system:nodes"
    sans = _sans(request)
    if sans is not None:
        for kind, what in ((x509.DNSName, "DNS"), (x509.RFC822Name, "Email"), (x509.IPAddress, "IP"),
                           (x509.UniformResourceIdentifier, "URI")):
            if sans.get_values_for_type(kind):
                return f"{what} subjectAltNames are not allowed"
    common_names = _names(request.subject, NameOID.COMMON_NAME)
    if not common_names or not common_names[0].startswith(NODE_USER_PREFIX):
        return 'subject common name does not begin with "system:node:"'
    requested = set(usages)
    if requested not in ({"digital signature", "key encipherment", "client auth"},
                         {"digital signature", "client auth"}):
        return "usages did not match [client auth digital signature key encipherment]"
    return None


def _kube_apiserver_client_problem(request: x509.CertificateSigningRequest, usages: Iterable[str]) -> str | None:
    requested = set(usages)
    if "client auth" not in requested or not requested <= {"digital signature", "key encipherment", "client auth"}:
        return "invalid usage for client certificate"
    return None


def _kubelet_serving_problem(request: x509.CertificateSigningRequest, usages: Iterable[str]) -> str | None:
    if _names(request.subject, NameOID.ORGANIZATION_NAME) != [NODES_GROUP]:
        return "subject organization is not system:nodes"
    common_names = _names(request.subject, NameOID.COMMON_NAME)
    if not common_names or not common_names[0].startswith(NODE_USER_PREFIX):
        return 'subject common name does not begin with "system:node:"'
    sans = _sans(request)
    if sans is None or not (sans.get_values_for_type(x509.DNSName) or sans.get_values_for_type(x509.IPAddress)):
        return "DNS or IP subjectAltName is required"
    requested = set(usages)
    if "server auth" not in requested or not requested <= {"digital signature", "key encipherment", "server auth"}:
        return "usages did not match [digital signature key encipherment server auth]"
    return None


_SIGNERS: Final = {
    KUBELET_CLIENT_SIGNER: kubelet_client_problem,
    KUBE_APISERVER_CLIENT_SIGNER: _kube_apiserver_client_problem,
    KUBELET_SERVING_SIGNER: _kubelet_serving_problem,
}


def sign(ca: pki.KeyPair, request: x509.CertificateSigningRequest, usages: Iterable[str], *,
         expiration_seconds: int | None = None, now: dt.datetime | None = None) -> bytes:
    """The certificate (PEM) the csrsigning controller issues for an approved request."""
    ca_cert = ca.certificate
    ca_key = ca.private_key()
    moment = now or dt.datetime.now(dt.UTC)
    duration = CLUSTER_SIGNING_DURATION
    if expiration_seconds is not None:
        duration = min(duration, dt.timedelta(seconds=expiration_seconds))
    key_usage = {flag: False for flag in ("digital_signature", "content_commitment", "key_encipherment",
                                          "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                                          "encipher_only", "decipher_only")}
    extended: list[x509.ObjectIdentifier] = []
    for usage in usages:
        if usage in _KEY_USAGES:
            key_usage[_KEY_USAGES[usage]] = True
        elif usage in _EXTENDED_KEY_USAGES and _EXTENDED_KEY_USAGES[usage] not in extended:
            extended.append(_EXTENDED_KEY_USAGES[usage])
    if not key_usage["key_agreement"]:
        key_usage["encipher_only"] = key_usage["decipher_only"] = False
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca_cert.subject)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - _BACKDATE)
        .not_valid_after(min(moment + duration, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**key_usage), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    sans = _sans(request)
    if sans is not None:
        builder = builder.add_extension(sans, critical=False)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


_CONTROLLER_USER: Final = UserInfo("system:serviceaccount:kube-system:certificate-controller",
                                   groups=("system:serviceaccounts", "system:serviceaccounts:kube-system",
                                           AUTHENTICATED_GROUP))


@dataclass
class CSRController:
    """kube-controller-manager's csrapproving and csrsigning controllers, on store events, asynchronously."""

    storage: ResourceStorage
    ca: pki.KeyPair
    _pending: dict[str, None] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._idle.set()
        self.storage.store.add_listener(self._on_event)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="envtest-csr-controllers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def settle(self) -> None:
        await self._idle.wait()

    def _on_event(self, event: WatchEvent) -> None:
        if event.group_resource != CSRS or event.type == "DELETED":
            return
        self._pending[event.object["metadata"]["name"]] = None
        self._idle.clear()
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                name = next(iter(self._pending))
                del self._pending[name]
                csr = self.storage.store.get(CSRS, "", name)
                if csr is not None:
                    try:
                        self._handle(csr)
                    except StatusError:
                        pass  # changed or deleted meanwhile: its next event brings it back
                await asyncio.sleep(0)
            self._idle.set()

    def _type(self) -> ResourceType:
        rt = self.storage.registry.storage_type(*CSRS)
        assert rt is not None
        return rt

    def _handle(self, csr: dict[str, Any]) -> None:
        status = csr.get("status") or {}
        if status.get("certificate") or _find(csr, "Failed"):
            return
        spec = csr.get("spec") or {}
        try:
            request = parse_request(spec.get("request"))
        except CSRParseError:
            return
        usages = [u for u in spec.get("usages") or () if isinstance(u, str)]
        approved, denied = bool(_find(csr, "Approved")), bool(_find(csr, "Denied"))
        if not approved and not denied:
            message = self._approval(spec, request, usages)
            if message is not None:
                conditions = [*_conditions(csr), {"type": "Approved", "status": "True", "reason": "AutoApproved",
                                                   "message": message}]
                self._write(csr, "approval", {**status, "conditions": conditions})
            return
        if denied or spec.get("signerName") not in _SIGNERS:
            return
        problem = _SIGNERS[spec["signerName"]](request, usages)
        if problem is not None:
            conditions = [*_conditions(csr), {"type": "Failed", "status": "True", "reason": "SignerValidationFailure",
                                              "message": problem, "lastUpdateTime": now_rfc3339()}]
            self._write(csr, "status", {**status, "conditions": conditions})
            return
        expiration = spec.get("expirationSeconds")
        certificate = sign(self.ca, request, usages,
                           expiration_seconds=expiration if isinstance(expiration, int) else None)
        self._write(csr, "status", {**status, "certificate": base64.b64encode(certificate).decode()})

    @staticmethod
    def _approval(spec: Mapping[str, Any], request: x509.CertificateSigningRequest, usages: list[str]) -> str | None:
        """The recognizers of sarapprove.go, with the default RBAC of a k0s cluster standing in for the
        SubjectAccessReview: nodeclient for system:bootstrappers (and system:masters), selfnodeclient for
        system:nodes."""
        if spec.get("signerName") != KUBELET_CLIENT_SIGNER or kubelet_client_problem(request, usages) is not None:
            return None
        username = spec.get("username") or ""
        groups = set(spec.get("groups") or ())
        common_name = _names(request.subject, NameOID.COMMON_NAME)[0]
        if username == common_name and (NODES_GROUP in groups or MASTERS_GROUP in groups):
            return "Auto approving self kubelet client certificate after SubjectAccessReview."
        if (BOOTSTRAPPERS_GROUP in groups and username.startswith(BOOTSTRAP_USER_PREFIX)) or MASTERS_GROUP in groups:
            return "Auto approving kubelet client certificate after SubjectAccessReview."
        return None

    def _write(self, csr: dict[str, Any], endpoint: str, status: dict[str, Any]) -> None:
        updated = copy.deepcopy(csr)
        updated["status"] = status
        token = REQUEST.set(RequestInfo(_CONTROLLER_USER, endpoint))
        try:
            context = RequestContext(user=_CONTROLLER_USER.name, field_manager="kube-controller-manager")
            self.storage.update(self._type(), "", csr["metadata"]["name"], updated, context, subresource="status")
        finally:
            REQUEST.reset(token)

