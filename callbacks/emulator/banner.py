"""What ``callbacks emulate`` tells its user at start: where it listens, the key and connection
string, the options that verify its callback tokens, how Microsoft's SDK connects (plain http, or
``--tls`` and the CA to trust), and where incoming calls go. Secrets the user gave are masked."""

from __future__ import annotations

import base64
import shlex
from pathlib import Path

from callbacks.emulator.config import EmulatorConfig
from callbacks.emulator.journal import redact_url
from callbacks.emulator.signing import receiver_flags


def banner(url: str, config: EmulatorConfig, *, show_key: bool, ca_file: Path | None) -> list[str]:
    """The start-up lines; the access key only with ``show_key`` (it was generated)."""
    key = base64.b64encode(config.access_key).decode("ascii")
    lines = [f"Call Automation emulator listening on {url}"]
    if show_key:
        lines.append(f"  access key (generated): {key}")
    shown_key = key if show_key else "<your --access-key>"
    lines.append(f"  connection string: endpoint={url}/;accesskey={shown_key}")
    flags = shlex.join(receiver_flags(url, config.token_issuer, config.resource_id))
    lines.append(f"  callbacks carry JWTs; verify them with: callbacks serve {flags}")
    sdk = "Microsoft's SDK: azure-communication-callautomation"
    lines.append(f"  GA API under {url}/calling ({sdk})")
    if ca_file is not None:
        ca = shlex.quote(str(ca_file))
        lines += [
            f"  TLS: certificates made at start; their CA is in {ca_file}",
            f"  trust it: export REQUESTS_CA_BUNDLE={ca} SSL_CERT_FILE={ca}",
            "  then CallAutomationClient.from_connection_string(<connection string>) works",
        ]
    else:
        lines.append(
            f'  Microsoft\'s SDK: CallAutomationClient("{url}", AzureKeyCredential(key)) '
            "(from_connection_string always speaks https: run with --tls for it)"
        )
    if config.incoming_url is not None:
        lines += [
            f"  incoming calls go to {redact_url(config.incoming_url)} (Event Grid shape)",
            f"  ring it: callbacks ring --emulator {url} --from +14255550100 --to <callee>",
        ]
    lines.append(f"  control API: {url}/emulator/calls  (docs/emulator.md)")
    return lines
