"""The outbox's HTTP sender (the `Sender` port of `services/outbox.py`), on httpx.

- 5 s to connect, 5 s to read (and to write, and to wait for a pooled connection);
- no redirect is followed (a 3xx is a failed attempt), no proxy from the environment;
- at most `RESPONSE_KEPT_BYTES` of a response body are read and kept;
- outside local/test (`public_only`) the host is resolved at every connection and every
  address it resolves to is checked (`domain/webhooks.address_problem`): private,
  loopback, link-local, multicast, reserved and metadata addresses are refused, and the
  connection goes to the address that was checked, so a name that resolves to a public
  address for the check and a private one for the connection (DNS rebinding) cannot
  reach inside. TLS still verifies the certificate for the URL's host name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from dataops.domain.webhooks import RESPONSE_KEPT_BYTES, address_problem
from dataops.services.outbox import DeliveryError, Reply

TIMEOUT = httpx.Timeout(5.0)


class RefusedAddress(httpcore.ConnectError):
    """The host resolved to an address a webhook must not reach."""


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves the host itself, refuses it if any address is not public, and connects to
    the first checked address."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            problem = address_problem(ipaddress.ip_address(address.split("%")[0]))
            if problem is not None:
                raise RefusedAddress(f"refused: {host} resolves to {problem}")
        return super().connect_tcp(
            addresses[0], port, timeout, local_address, socket_options=socket_options
        )


class HttpSender:
    def __init__(self, *, public_only: bool, transport: httpx.BaseTransport | None = None):
        if transport is None:
            transport = httpx.HTTPTransport(trust_env=False, retries=0)
            if public_only:
                # httpx builds its httpcore pool without a network-backend hook; the pool
                # is rebuilt with the guarded backend (same SSL context as httpx's own).
                pool: httpcore.ConnectionPool = transport._pool
                transport._pool = httpcore.ConnectionPool(
                    ssl_context=pool._ssl_context,
                    max_connections=10,
                    network_backend=_GuardedBackend(),
                )
        self._client = httpx.Client(
            transport=transport, timeout=TIMEOUT, follow_redirects=False, trust_env=False
        )

    def send(self, url: str, headers: dict[str, str], body: bytes) -> Reply:
        try:
            with self._client.stream("POST", url, headers=headers, content=body) as response:
                kept = bytearray()
                for chunk in response.iter_bytes(RESPONSE_KEPT_BYTES):
                    kept += chunk
                    if len(kept) >= RESPONSE_KEPT_BYTES:
                        break
                text = bytes(kept[:RESPONSE_KEPT_BYTES]).decode("utf-8", errors="replace")
                return Reply(response.status_code, text)
        except RefusedAddress as exc:
            raise DeliveryError(str(exc)) from exc
        except httpx.ConnectError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, RefusedAddress):
                raise DeliveryError(str(cause)) from exc
            raise DeliveryError(f"cannot connect: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"timed out after 5 s: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._client.close()
