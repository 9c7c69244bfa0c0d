"""The offline hub fixtures for evaluation through the Translator protocol."""

from tests.evaluation.conftest import empty_hub, offline_hub, torch_home  # noqa: F401
