"""Facts about the machine that ran obench, recorded in every run header."""

from __future__ import annotations

import os
import platform
import socket
from typing import Any


def host_info() -> dict[str, Any]:
    """Platform, Python, CPU count and memory: what a later reader needs to compare two runs."""
    try:
        memory_bytes: int | None = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory_bytes = None
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": memory_bytes,
    }
