"""Serving a demo page in a test: on 127.0.0.1, on a free port, stopped when the test ends."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(app: Any) -> Iterator[str]:
    """Serve ``app`` (a ``build_app`` page) and yield its address; close it afterwards."""
    app.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
        show_error=True,
    )  # fmt: skip
    try:
        yield app.local_url
    finally:
        app.close()
        app.scratch.remove()
