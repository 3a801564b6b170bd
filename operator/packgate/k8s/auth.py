"""Who is calling the history UI, and what they may see: TokenReview, SubjectAccessReview, and a
client acting with the caller's own token.

Owns: reviewing a bearer token (TokenReview) into an `Identity`, asking whether that identity may
`get` packs.packgate.dev in a namespace (SubjectAccessReview; cluster-wide first, one answer for
every namespace), the short-lived caches of both answers (`TtlCache`, a pure structure that takes
`now`), listing Packs with the UI's own ServiceAccount, and building a `Kube` from a caller's token
(same server and CA as the UI's client, no other credential) so RBAC decides a retest.
Must not: decide what a page shows (the UI filters with these answers), write anything with the
UI's own credentials, or keep a token longer than the cache's time to live (keys are SHA-256
digests, never the token).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from packgate.api.spec import GROUP, PLURAL, VERSION
from packgate.errors import KubernetesError
from packgate.k8s.client import Kube, _failed, request_timeout

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

CACHE_SECONDS = 30.0
"""How long a TokenReview or SubjectAccessReview answer is reused."""
CACHE_LIMIT = 10_000
"""Entries a cache holds at most; the oldest go first."""


@dataclass(frozen=True)
class Identity:
    """An authenticated caller, as TokenReview reports it."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def key(self) -> tuple[str, str, tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
        return (self.username, self.uid, self.groups, self.extra)


@dataclass
class TtlCache(Generic[K, V]):
    """A small map whose entries expire `ttl` seconds after they were put; `now` is passed in."""

    ttl: float = CACHE_SECONDS
    limit: int = CACHE_LIMIT
    _entries: dict[K, tuple[float, V]] = field(default_factory=dict)

    def lookup(self, key: K, now: float) -> tuple[bool, V | None]:
        """(True, value) for a live entry, (False, None) for none or an expired one (dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        if now - entry[0] >= self.ttl:
            del self._entries[key]
            return False, None
        return True, entry[1]

    def put(self, key: K, value: V, now: float) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (now, value)
        while len(self._entries) > self.limit:
            del self._entries[next(iter(self._entries))]

    def __len__(self) -> int:
        return len(self._entries)


def token_digest(token: str) -> str:
    """The cache key of a token (the token itself is never kept)."""
    return hashlib.sha256(token.encode()).hexdigest()


def identity_from_review(status: dict[str, Any] | None) -> Identity | None:
    """The Identity of a TokenReview's status, None unless it says authenticated."""
    if not status or not status.get("authenticated"):
        return None
    user = status.get("user") or {}
    username = user.get("username") or ""
    if not username:
        return None
    extra = user.get("extra") or {}
    return Identity(
        username=username,
        uid=user.get("uid") or "",
        groups=tuple(user.get("groups") or ()),
        extra=tuple(sorted((k, tuple(v or ())) for k, v in extra.items())),
    )


class Authorizer:
    """TokenReview and SubjectAccessReview with the UI's own client, each answer cached briefly."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        *,
        timeout: float = 10.0,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_client = api_client
        self.kube = Kube(api_client, timeout=timeout)
        self._auth = k8s.AuthenticationV1Api(api_client)
        self._authz = k8s.AuthorizationV1Api(api_client)
        self._timeout = request_timeout(timeout)
        self._clock = clock
        self._identities: TtlCache[str, Identity | None] = TtlCache(ttl)
        self._access: TtlCache[tuple[Any, str], bool] = TtlCache(ttl)

    async def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(partial(fn, *args, _request_timeout=self._timeout))
        except (ApiException, HTTPError, OSError) as exc:
            raise _failed(exc, what, self._timeout) from exc

    async def identify(self, token: str) -> Identity | None:
        """The identity behind a bearer token, None when the API server does not accept it."""
        key = token_digest(token)
        now = self._clock()
        found, cached = self._identities.lookup(key, now)
        if found:
            return cached
        body = k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token))
        answer = await self._call("create TokenReview", self._auth.create_token_review, body)
        plain = self.api_client.sanitize_for_serialization(answer)  # type: ignore[no-untyped-call]
        identity = identity_from_review(plain.get("status"))
        self._identities.put(key, identity, now)
        return identity

    async def may_get_packs(self, identity: Identity, namespace: str) -> bool:
        """Whether `identity` may get packs.packgate.dev in `namespace` ("" asks cluster-wide)."""
        key = (identity.key, namespace)
        now = self._clock()
        found, cached = self._access.lookup(key, now)
        if found:
            return bool(cached)
        attributes = k8s.V1ResourceAttributes(group=GROUP, resource=PLURAL, verb="get", namespace=namespace or None)
        body = k8s.V1SubjectAccessReview(
            spec=k8s.V1SubjectAccessReviewSpec(
                user=identity.username,
                uid=identity.uid or None,
                groups=list(identity.groups) or None,
                extra={k: list(v) for k, v in identity.extra} or None,
                resource_attributes=attributes,
            )
        )
        answer = await self._call("create SubjectAccessReview", self._authz.create_subject_access_review, body)
        allowed = bool(getattr(answer.status, "allowed", False))
        self._access.put(key, allowed, now)
        return allowed

    async def allowed_namespaces(self, identity: Identity, candidates: list[str]) -> set[str] | None:
        """The namespaces of `candidates` where `identity` may get packs; None means every namespace
        (the identity may get packs cluster-wide)."""
        if await self.may_get_packs(identity, ""):
            return None
        answers = await asyncio.gather(*(self.may_get_packs(identity, ns) for ns in candidates))
        return {ns for ns, ok in zip(candidates, answers, strict=True) if ok}

    async def list_packs(self) -> list[dict[str, Any]]:
        """Every Pack of the cluster, read with the UI's own ServiceAccount (list packs)."""
        return await self.kube.list_packs([])

    def client_for_token(self, token: str) -> Kube:
        """A Kube authenticating with `token` only: the UI's server and CA, none of its credentials.
        Close it with `close_client`."""
        own = self.api_client.configuration
        configuration = k8s.Configuration()
        configuration.host = own.host
        configuration.ssl_ca_cert = own.ssl_ca_cert
        configuration.verify_ssl = own.verify_ssl
        configuration.tls_server_name = getattr(own, "tls_server_name", None)
        configuration.api_key = {"authorization": f"Bearer {token}"}
        return Kube(k8s.ApiClient(configuration), timeout=self._timeout[1])

    @staticmethod
    def close_client(kube: Kube) -> None:
        kube.api_client.close()  # type: ignore[no-untyped-call]


class CallerRefused(KubernetesError):
    """The API server refused a call made with the caller's own token; `status` is its HTTP status
    (401, 403, 404, ...), which the UI answers with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


async def patch_retest(kube: Kube, namespace: str, name: str, value: str, annotation: str) -> None:
    """Set the retest annotation of Pack namespace/name with `kube`'s credentials (the caller's):
    a refusal (RBAC, a missing Pack) comes back as CallerRefused with the API server's status."""
    what = f"annotate Pack {namespace}/{name}"
    body = {"metadata": {"annotations": {annotation: value}}}
    try:
        await asyncio.to_thread(
            partial(
                kube.custom.patch_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                body,
                _request_timeout=kube.timeout,
            )
        )
    except ApiException as exc:
        if exc.status in (401, 403, 404):
            raise CallerRefused(f"{what}: {exc.status} {' '.join((exc.reason or '').split())}", exc.status) from exc
        raise _failed(exc, what, kube.timeout) from exc
    except (HTTPError, OSError) as exc:
        raise _failed(exc, what, kube.timeout) from exc
