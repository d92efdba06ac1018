def test_healthz_answers_on_any_host(client):
    response = client.get("/healthz", HTTP_HOST="unknown.example")
    assert response.status_code == 200


def test_readyz_reports_database_and_redis(db, client):
    response = client.get("/readyz", HTTP_HOST="localhost")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"database": "ok", "redis": "ok"}}
