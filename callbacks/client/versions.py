"""The REST API versions: the GA versions Microsoft's SDK knows, and the two 2021 forms.

- A GA version (``2023-03-06`` ... ``2026-03-12``): paths under ``/calling/callConnections``,
  ``?api-version=<version>`` on every request. The default is the SDK's, :data:`DEFAULT`.
- :data:`PREVIEW_2021` (``2021-04-15-preview1``): the 2021 specification's own paths,
  ``/calling/calls/...?api-version=2021-04-15-preview1``.
- :data:`OVERVIEW_2021` (``2021-overview``): the paths of the 2021 overview document (the seed:
  ``/calls``, ``/calls/{id}/PlayAudio``), with no api-version query.
"""

from __future__ import annotations

GA_VERSIONS = (
    "2023-03-06",
    "2023-10-15",
    "2024-04-15",
    "2024-09-15",
    "2025-05-15",
    "2025-06-15",
    "2026-03-12",
)
"""Every GA api-version of ``azure-communication-callautomation`` 1.6, oldest first."""

DEFAULT = "2026-03-12"
"""The api-version used unless one is configured (the SDK's default)."""

PREVIEW_2021 = "2021-04-15-preview1"
OVERVIEW_2021 = "2021-overview"
API_VERSIONS = (*GA_VERSIONS, PREVIEW_2021, OVERVIEW_2021)
"""Every value ``--api-version`` takes."""


def is_ga(api_version: str) -> bool:
    """Whether ``api_version`` is a GA version (else one of the 2021 forms)."""
    return api_version in GA_VERSIONS
