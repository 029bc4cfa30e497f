"""schemathesis against the JSON API's own OpenAPI schema (/openapi.json), on a store built
from recorded r/LocalLLaMA posts with a brief written by the real SmolLM2 model.

Every operation, with generated valid and invalid inputs: no server error, every answer
matches the schema's content type and (for documented statuses) its response schema, and
the admin operations, called without the token or with a generated one, never succeed.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from conftest import llm_settings
from newsdesk.desk import Desk
from newsdesk.web import create_app


@pytest.fixture(scope="module")
def api_schema(clustered: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("api")
    shutil.copytree(clustered, folder / "data")
    token = secrets.token_urlsafe(32)
    desk = Desk(llm_settings(folder / "data", admin_token=token, page_cache_seconds=0))
    best = desk.stories(limit=1)[0].id
    assert desk.write_brief(best).error is None
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(desk))


CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


def _fuzz(operation: Any, tried: dict[str, int]) -> None:
    """Up to 20 generated requests to one operation, each answer checked."""
    from hypothesis import given

    label = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        if case.path.startswith("/api/v1/admin"):
            assert response.status_code in (401, 403, 422), (label, response.status_code)
        tried[label] = tried.get(label, 0) + 1

    run()


def test_api_answers_by_its_schema_without_server_errors(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    tried: dict[str, int] = {}
    for operation in operations:
        _fuzz(operation, tried)
    assert len(tried) == len(operations), sorted(tried)
