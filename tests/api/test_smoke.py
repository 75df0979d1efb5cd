from fastapi.testclient import TestClient


def test_health_through_portal_names_no_backend_to_anonymous_callers(
    portal: TestClient,
) -> None:
    response = portal.get("/work/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    bad = portal.get("/work/health", headers={"Authorization": "Bearer dop_not-a-token"})
    assert (bad.status_code, bad.json()) == (200, {"status": "ok"})


def test_health_names_the_backends_to_a_logged_in_caller(api: TestClient) -> None:
    response = api.get("/work/health")
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
