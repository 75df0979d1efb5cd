from fastapi.testclient import TestClient


def test_health_through_portal(portal: TestClient) -> None:
    response = portal.get("/work/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "store": "sqlite", "blobStore": "local-dev"}


def test_api_needs_login(portal: TestClient) -> None:
    response = portal.get("/work/api/artifacts")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_me_after_login(api: TestClient) -> None:
    me = api.get("/work/api/me").json()
    assert me["email"] == "admin@example.com"
    assert me["role"] == "admin"
