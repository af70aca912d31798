"""Loaded only by `make nbval-offline` (PYTHONPATH=tests/offline): no network but loopback.

Kernels talk to Jupyter over loopback TCP, so only connections to other hosts
and name look-ups of other hosts are refused; a chapter that tries to download
anything fails loudly.
"""

import socket

_LOCAL = {"127.0.0.1", "::1", "localhost", "0.0.0.0", ""}
_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo


def _is_local(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    return isinstance(host, str) and (host in _LOCAL or host.startswith("127.") or host.startswith("/"))


def _guarded_connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
        raise OSError(f"network access is blocked in this test run (tried {address!r})")
    return _connect(self, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
    if host is not None and not _is_local(host if isinstance(host, str) else str(host)):
        raise socket.gaierror(f"name resolution is blocked in this test run ({host!r})")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.getaddrinfo = _guarded_getaddrinfo
