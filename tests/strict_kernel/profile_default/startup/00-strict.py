"""IPython start-up file of the strict test kernels (`make nbval-offline` sets IPYTHONDIR here).

1. No network but loopback: connections to other hosts and look-ups of other host names are
   refused, so a chapter that tries to download anything fails loudly. (Jupyter's own ZMQ
   sockets are loopback and do not go through Python's socket module anyway.)
2. Deprecated API is an error: DeprecationWarning and FutureWarning raised from chapter code
   or from torch, torchvision, pandas, numpy and scikit-learn fail the cell. Third-party
   warnings we cannot fix are listed below with their reason.
"""

import re
import socket
import warnings

_LOCAL = {"127.0.0.1", "::1", "localhost", "0.0.0.0", ""}
_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo


def _is_local(host: object) -> bool:
    return isinstance(host, str) and (host in _LOCAL or host.startswith("127.") or host.startswith("/"))


def _guarded_connect(self: socket.socket, address: object) -> None:
    host = address[0] if isinstance(address, tuple) else address
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(host):
        raise OSError(f"network access is blocked in this test run (tried {address!r})")
    return _connect(self, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
    if host is not None and not _is_local(host if isinstance(host, str) else str(host)):
        raise socket.gaierror(f"name resolution is blocked in this test run ({host!r})")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.getaddrinfo = _guarded_getaddrinfo

_STRICT_MODULES = r"(__main__|torch|torchvision|pandas|numpy|sklearn)(\..*)?"
for _category in (DeprecationWarning, FutureWarning):
    warnings.filterwarnings("error", category=_category, module=_STRICT_MODULES)

# Known third-party noise, each with its reason (these are inserted last, so they win):
# - torch.utils.tensorboard's add_graph traces the model with torch.jit.trace, which torch 2.14
#   deprecates; there is no replacement API for writing a TensorBoard graph yet.
warnings.filterwarnings("ignore", message=re.escape("`torch.jit.trace`") + ".*", category=FutureWarning)
warnings.filterwarnings("ignore", message=".*torch.jit.trace.*is deprecated.*", category=DeprecationWarning)
