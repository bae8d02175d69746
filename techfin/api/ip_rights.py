"""/api/v1/copyrights and /api/v1/trademarks — an enterprise's software copyrights and
trademarks, kept like its patents (confidential ones stay within the enterprise).

The two resources are the same five operations on two models (catalog.create_ip /
update_ip / delete_ip), so one factory makes both blueprints; what differs is named in
IpResource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from flask.views import MethodView

from techfin.api.auth import caller
from techfin.api.core import (
    ApiBlueprint,
    body_doc,
    errors,
    parse_body,
    require,
    resource_blueprint,
    visible,
)
from techfin.api.owners import owning_enterprise
from techfin.api.schemas import (
    COPYRIGHT_EXAMPLE,
    TRADEMARK_EXAMPLE,
    CopyrightCreate,
    CopyrightOut,
    CopyrightPage,
    CopyrightUpdate,
    IpQuery,
    TrademarkCreate,
    TrademarkOut,
    TrademarkPage,
    TrademarkUpdate,
)
from techfin.models import Copyright, Trademark
from techfin.services import access, catalog, lookup


@dataclass(frozen=True)
class IpResource:
    kind: str  # catalog's name for it: "copyright" | "trademark"
    model: type
    plural: str  # URL segment and blueprint name
    title: str  # the blueprint's description
    noun: str  # in the operations' summaries: "software copyright", "trademark"
    example: dict[str, Any]
    create: type[ma.Schema]
    update: type[ma.Schema]
    out: type[ma.Schema]
    page: type[ma.Schema]


def ip_blueprint(res: IpResource) -> ApiBlueprint:
    """The list / create / read / change / delete operations of one kind of IP right."""
    bp = resource_blueprint(res.plural, res.plural, res.title)
    name = res.model.__name__

    class Collection(MethodView):
        @bp.arguments(IpQuery, location="query")
        @bp.response(200, res.page)
        @errors(bp, 422)
        def get(self, args: dict[str, Any]) -> dict[str, Any]:
            return lookup.listing(caller(), res.model, args)

        @bp.doc(requestBody=body_doc(res.create, example=res.example))
        @bp.response(201, res.out)
        @errors(bp, 400, 403, 409, 422)
        def post(self) -> Any:
            user = caller()
            require(access.can_create(user, res.kind))
            data = parse_body(res.create)
            return catalog.create_ip(user, res.kind, owning_enterprise(user, data), data)

    class Item(MethodView):
        @bp.response(200, res.out)
        @errors(bp, 404)
        def get(self, item_id: int) -> Any:
            return visible(caller(), res.model, item_id)

        @bp.doc(requestBody=body_doc(res.update, partial=True, example={"status": "registered"}))
        @bp.response(200, res.out)
        @errors(bp, 400, 403, 404, 409, 422)
        def patch(self, item_id: int) -> Any:
            user = caller()
            item = visible(user, res.model, item_id)
            require(access.can_edit_ip(user, item))
            return catalog.update_ip(user, item, parse_body(res.update, partial=True))

        @bp.response(204)
        @errors(bp, 403, 404)
        def delete(self, item_id: int) -> None:
            user = caller()
            catalog.delete_ip(user, visible(user, res.model, item_id))

    # The OpenAPI summaries come from the docstrings, and the endpoints from the class names
    # (copyrights.Copyrights, copyrights.CopyrightById …): both as they were written by hand.
    docs = {
        Collection.get: f"List the {res.noun}s the caller may see.",
        Collection.post: f"Add a {res.noun} to the caller's enterprise (operators name the "
        "enterprise_ref).",
        Item.get: f"One {res.noun}.",
        Item.patch: f"Change some fields of a {res.noun}.",
        Item.delete: f"Delete a {res.noun}.",
    }
    for fn, doc in docs.items():
        fn.__doc__ = doc
    Collection.__name__ = Collection.__qualname__ = f"{name}s"
    Item.__name__ = Item.__qualname__ = f"{name}ById"
    bp.route("")(Collection)
    bp.route("/<int:item_id>")(Item)
    return bp


COPYRIGHTS = IpResource(
    "copyright", Copyright, "copyrights", "Software copyrights / 软件著作权", "software copyright",
    COPYRIGHT_EXAMPLE, CopyrightCreate, CopyrightUpdate, CopyrightOut, CopyrightPage,
)  # fmt: skip
TRADEMARKS = IpResource(
    "trademark", Trademark, "trademarks", "Trademarks / 商标", "trademark",
    TRADEMARK_EXAMPLE, TrademarkCreate, TrademarkUpdate, TrademarkOut, TrademarkPage,
)  # fmt: skip

copyrights_bp = ip_blueprint(COPYRIGHTS)
trademarks_bp = ip_blueprint(TRADEMARKS)
