"""The evaluation fixtures (offline hub caches) for the callback tests."""

from tests.evaluation.conftest import empty_hub, offline_hub, torch_home  # noqa: F401
