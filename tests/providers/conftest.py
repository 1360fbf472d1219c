"""Fixtures for provider tests; the fake server lives in fake_openai.py so others can reuse it."""

from tests.providers.fake_openai import fake_openai  # noqa: F401 (pytest fixture)
