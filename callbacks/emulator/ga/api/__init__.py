"""HTTP adapters of the GA API: the REST operations under ``/calling`` and the control routes."""
