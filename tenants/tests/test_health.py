def test_healthz_answers_on_any_host(client):
    response = client.get("/healthz", HTTP_HOST="unknown.example")
    assert response.status_code == 200


def test_readyz_reports_database_and_redis(db, client):
    response = client.get("/readyz", HTTP_HOST="localhost")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_names_no_exception_to_the_world(db, client, settings, caplog):
    """Audit I: the answer said which exception failed; the log says it, the response only 503."""
    from core.redis import reset_clients

    settings.REDIS_APP_URL = "redis://127.0.0.1:9/0"
    reset_clients()
    try:
        response = client.get("/readyz", HTTP_HOST="acme.localhost")
    finally:
        reset_clients()
    assert response.status_code == 503
    assert response.json() == {"ready": False, "checks": {"database": "ok", "redis": "error"}}
    assert "ConnectionError" in caplog.text  # for the operator
