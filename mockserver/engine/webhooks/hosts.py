"""The allow-list of webhook receivers: which hosts the fake may call, matched as written."""
from __future__ import annotations

import fnmatch
import ipaddress
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit


def normalise_host_url(url: str) -> str:
    """``url`` with its host name as it is matched and contacted: lower case, no
    trailing dot (``http://LOCALHOST.:9000/`` is ``http://localhost:9000/``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return url
    if not host or host == host.lower().rstrip("."):
        return url
    userinfo, at, hostport = parts.netloc.rpartition("@")
    port = f":{parts.port}" if parts.port is not None else ""
    name = host.lower().rstrip(".")
    name = f"[{name}]" if ":" in name else name
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{name}{port}"))


# allowed hosts -------------------------------------------------------------------------------
def host_allowed(url: str, allowed: Iterable[str]) -> bool:
    """Whether ``url`` is http(s) to a host ``allowed`` names: a name, an IP address, a
    CIDR network, ``*.domain``, ``loopback`` (127.0.0.0/8, ::1, localhost) or ``*``.
    The host is matched as written, never resolved."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for rule in allowed:
        rule = rule.strip().lower()
        if rule == "*":
            return True
        if rule == "loopback":
            if host == "localhost" or (ip is not None and ip.is_loopback):
                return True
            continue
        if "/" in rule and ip is not None:
            try:
                if ip in ipaddress.ip_network(rule, strict=False):
                    return True
            except ValueError:
                pass
            continue
        if ip is not None:
            try:
                if ip == ipaddress.ip_address(rule.strip("[]")):
                    return True
            except ValueError:
                pass
            continue
        if host == rule or ("*" in rule and fnmatch.fnmatchcase(host, rule)):
            return True
    return False
