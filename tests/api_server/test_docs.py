"""/docs works offline: Swagger UI from the server's own files, and an OpenAPI that says how to upload
(issue 34, part 5). The browser half is in test_load_and_browser.py."""
import re

import pytest
from fastapi.testclient import TestClient
from serving_fixtures import shared_small_model

from text_recognizer.api_server.app import Settings, create_app
from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    return ParagraphTextRecognizer(shared_small_model(tmp_path_factory), backend="onnx")


def client_for(recognizer, **settings):
    return TestClient(create_app(Settings(model_path=recognizer.model_path, **settings), recognizer=recognizer))


def test_the_docs_page_loads_its_scripts_from_this_server_only(recognizer):
    with client_for(recognizer) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
        assert sources and all(source.startswith("/") for source in sources), sources  # no CDN
        for source in sources:
            assert client.get(source).status_code == 200, source
        assert len(client.get("/docs-assets/swagger-ui-bundle.js").content) > 500_000


def test_the_openapi_of_recognize_has_the_multipart_upload_and_the_enabled_json_forms(recognizer):
    with client_for(recognizer) as client:
        body = client.get("/openapi.json").json()["paths"]["/v1/recognize"]["post"]["requestBody"]
    assert body["required"] and list(body["content"]) == ["multipart/form-data"]
    image = body["content"]["multipart/form-data"]["schema"]["properties"]["image"]
    assert image["type"] == "string" and image["format"] == "binary"
    with client_for(recognizer, allow_urls=True) as client:
        body = client.get("/openapi.json").json()["paths"]["/v1/recognize"]["post"]["requestBody"]
    assert list(body["content"]["application/json"]["schema"]["properties"]) == ["url"]
