"""Which upstream addresses a provider may point at.

- Only http and https, a host, no credentials in the URL.
- Link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254) and metadata host
  names are refused always, whatever the operator allows.
- Loopback, private, carrier-grade NAT, unique-local, unspecified and multicast addresses are refused
  unless `MODELREG_UPSTREAM_ALLOW` lists them (CIDRs and host names, comma-separated).
- Checked when a provider is saved (literal addresses, and names that resolve), and again at connect
  time on the resolved addresses; the connection is then pinned to the address that was checked, so
  DNS rebinding between the check and the connection does not help.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from modelreg.domain.errors import InvalidInput

__all__ = ["UpstreamPolicy", "UpstreamRefused"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALWAYS_REFUSED: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)
REFUSED_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"})
RESTRICTED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
        "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "ff00::/8",
    )
)  # fmt: skip


class UpstreamRefused(InvalidInput):
    """The upstream URL or its address is not allowed (the message never contains the key)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "base_url")


# RFC 3986 path and query characters (unreserved, sub-delims, ':', '@', '/', '?', percent escapes).
_URL_TAIL = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")


def _check_host_syntax(host: str) -> None:
    """An IP literal, or a name every label of which IDNA can encode (1-63 characters, none empty)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return
    except ValueError:
        pass
    try:
        encoded = host.encode("idna")
    except UnicodeError:
        raise UpstreamRefused("base_url host is not a valid host name") from None
    if len(encoded) > 253 or not all(0 < len(label) <= 63 for label in encoded.split(b".")):
        raise UpstreamRefused("base_url host is not a valid host name")


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class UpstreamPolicy:
    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.allowed_networks: list[IPNetwork] = []
        self.allowed_hosts: set[str] = set()
        for item in (entry.strip() for entry in allow):
            if not item:
                continue
            try:
                self.allowed_networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.allowed_hosts.add(item.lower().rstrip("."))

    @classmethod
    def from_setting(cls, value: str) -> UpstreamPolicy:
        return cls(value.split(","))

    @staticmethod
    def parse(url: str) -> tuple[str, str, int]:
        """(scheme, host, port) of an acceptable URL; UpstreamRefused otherwise."""
        if any(char.isspace() or not char.isprintable() for char in url):
            raise UpstreamRefused("base_url may not contain spaces or control characters (percent-encode them)")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UpstreamRefused("base_url is not a valid URL") from None
        if parts.scheme not in ("http", "https"):
            raise UpstreamRefused("base_url must use http or https")
        if not parts.hostname:
            raise UpstreamRefused("base_url needs a host")
        if parts.username is not None or parts.password is not None:
            raise UpstreamRefused("base_url may not carry credentials; put the key in api_key")
        if not _URL_TAIL.fullmatch(parts.path + ("?" + parts.query if parts.query else "")) or parts.fragment:
            # It becomes the upstream request line: a space or raw non-ASCII would corrupt it.
            raise UpstreamRefused("base_url path may hold only URL characters (percent-encode others), no fragment")
        host = parts.hostname.lower()
        host = host.removesuffix(".")  # one trailing dot is the DNS root; more is an empty label
        _check_host_syntax(host)
        return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)

    def check_address(self, address: IPAddress, host: str) -> None:
        address = _unmapped(address)
        if any(address in net for net in ALWAYS_REFUSED):
            raise UpstreamRefused("base_url points at a link-local or cloud metadata address")
        if any(address in net for net in RESTRICTED):
            if host in self.allowed_hosts or any(address in net for net in self.allowed_networks):
                return
            raise UpstreamRefused(
                "base_url points at a loopback or private address (allowed only through MODELREG_UPSTREAM_ALLOW)"
            )

    def check_host_name(self, host: str) -> None:
        if host in REFUSED_HOSTS or (host.endswith(".internal") and host.startswith("metadata")):
            raise UpstreamRefused("base_url points at a cloud metadata host")

    async def resolve(self, host: str, port: int, timeout: float = 5.0) -> list[IPAddress]:
        """Every address of `host`, each checked; UpstreamRefused if any is refused or none resolves."""
        self.check_host_name(host)
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            self.check_address(literal, host)
            return [literal]
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        except (OSError, TimeoutError, UnicodeError):
            raise UpstreamRefused("base_url host does not resolve") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        for address in addresses:
            self.check_address(address, host)
        return addresses

    async def check_at_save(self, url: str) -> None:
        """At save time a name that does not resolve (yet, or from here) is accepted: connect time decides."""
        _, host, port = self.parse(url)
        try:
            await self.resolve(host, port, timeout=2.0)
        except UpstreamRefused as exc:
            if exc.message != "base_url host does not resolve":
                raise
