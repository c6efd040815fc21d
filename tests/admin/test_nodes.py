"""The data browser for tenants on every node."""

from __future__ import annotations

import uuid

from pilar.models import Channel
from pilar.models import Conversation
from pilar.models import Role
from tests.admin.conftest import Browser
from tests.admin.conftest import add_rows
from tests.admin.test_views import LISTS
from tests.users import make_user


def test_the_platform_browser_lists_a_tenant_on_each_node(nodes_app, make_node_tenant):
    browser = Browser(nodes_app, "localhost")
    assert browser.sign_in_platform().status_code == 302
    for node in ("default", "eu2", "eu3"):
        studio = make_node_tenant(node=node)
        word = f"rowing{uuid.uuid4().hex[:6]}"
        (conversation,) = add_rows(
            nodes_app,
            studio,
            Conversation(
                channel=Channel.VOICE, transcript=[{"role": "member", "text": word}]
            ),
        )
        for slug in ("", *LISTS):
            response = browser.get(f"/admin/t/{studio.id}/{slug}")
            assert response.status_code == 200, (node, slug)
        found = browser.get(f"/admin/t/{studio.id}/conversations/?search={word}")
        assert str(conversation) in found.get_data(as_text=True)


def test_an_owner_browses_their_tenant_on_another_node(nodes_app, make_node_tenant):
    studio = make_node_tenant(node="eu3")
    browser = Browser(nodes_app, studio.domain)
    owner = make_user(nodes_app, studio, Role.OWNER)
    assert browser.sign_in(owner.email).status_code == 302
    (conversation,) = add_rows(
        nodes_app, studio, Conversation(channel=Channel.EMAIL, transcript=[])
    )
    listed = browser.get(f"/admin/t/{studio.id}/conversations/")
    assert listed.status_code == 200
    assert str(conversation) in listed.get_data(as_text=True)
