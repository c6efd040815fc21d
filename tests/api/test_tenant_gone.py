from __future__ import annotations

from pilar.api.auth import issue_token
from pilar.db.extensions import db
from pilar.models import Role
from pilar.tenancy.fleet import provisioning
from tests.conftest import make_app
from tests.users import make_user


def test_a_tenant_dropped_by_another_process_gets_404_not_500(
    database_url, app, make_tenant
):
    studio = make_tenant()
    user = make_user(app, studio, Role.STAFF)
    with app.app_context():
        token = issue_token(user)[0]
    # Another process, whose directory still holds the tenant.
    other = make_app(database_url, TENANT_CACHE_TTL=60)
    client = other.test_client()
    headers = {"Host": studio.domain, "Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/conversations", headers=headers).status_code == 200
    with app.app_context():
        provisioning.drop_tenant(studio.id)
    response = client.get("/api/v1/conversations", headers=headers)
    assert response.status_code in (401, 404)
    assert response.get_json()["code"] in ("unauthenticated", "tenant_not_found")
    with other.app_context():
        db.engine.dispose()
