"""What every call to a target carries besides its body: credentials and the user's own headers.

Servers behind an auth proxy need a header on every call, the probe included. The sources, in
order of precedence for `Authorization`: a `--header 'Authorization: …'`, credentials in the
target's URL (sent as Basic auth), then an API key from the environment (`OLLAMA_API_KEY` for
Ollama, as the official client sends it: `Bearer <key>`). Secrets live only in TargetSpec's
excluded fields and in the headers returned here; they are never printed or stored.

Every kind of target gets its headers from `request_headers(spec, api_key_env)`; an
OpenAI-compatible target passes its own key variable.
"""

from __future__ import annotations

import base64
import os
import re
from urllib.parse import unquote

from pydantic import SecretStr

from ollama_bench.errors import UsageError
from ollama_bench.models import TargetSpec

OLLAMA_API_KEY_ENV = "OLLAMA_API_KEY"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP field name (RFC 9110 token)


def parse_header(text: str) -> tuple[str, SecretStr]:
    """`Name: value` → (name, secret value). A malformed one is refused without echoing it,
    since the value may be a token.

    >>> name, value = parse_header("X-Api-Key:  abc ")
    >>> name, value.get_secret_value()
    ('X-Api-Key', 'abc')
    """
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not _TOKEN.match(name):
        shown = f" (name {name!r})" if _TOKEN.match(name) else ""
        raise UsageError(
            f"a --header is not 'Name: value'{shown}; its text is not shown, it may hold a secret",
            "e.g. --header 'Authorization: Bearer TOKEN' (OBENCH_HEADERS: one per line)",
        )
    return name, SecretStr(value.strip())


def parse_headers(texts: list[str]) -> dict[str, SecretStr]:
    return dict(parse_header(text) for text in texts if text.strip())


def request_headers(spec: TargetSpec, api_key_env: str = OLLAMA_API_KEY_ENV) -> dict[str, str]:
    """The headers to send on every call to this target (see the module docstring)."""
    headers = {name: value.get_secret_value() for name, value in spec.headers.items()}
    if any(name.lower() == "authorization" for name in headers):
        return headers
    if spec.password is not None or spec.username:
        secret = spec.password.get_secret_value() if spec.password else ""
        pair = f"{unquote(spec.username or '')}:{secret}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif key := os.environ.get(api_key_env):
        headers["Authorization"] = f"Bearer {key}"
    return headers
