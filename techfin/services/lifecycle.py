"""Status changes of needs and products, with the transitions the pages offer.

Needs: draft → published → closed (with a reason) → published again; only drafts are deleted.
Products: active ⇄ paused, either → retired, and a retired product stays retired.
"""

from __future__ import annotations

from typing import Any

from techfin.errors import Conflict
from techfin.models import Need, Product, User
from techfin.services import catalog

PRODUCT_TRANSITIONS = {
    "active": ("paused", "retired"),
    "paused": ("active", "retired"),
    "retired": (),
}


def publish_need(user: User, need: Need) -> Need:
    """Make a draft (or a closed need, reopened) visible to verified institutions."""
    if need.status == "published":
        raise Conflict("published", {"status": ["Already published / 已发布"]})
    return catalog.set_need_status(user, need, "published")


def close_need(user: User, need: Need, reason: str) -> Need:
    """Close a need; the reason is required and kept on the record."""
    if need.status == "closed":
        raise Conflict("closed", {"status": ["Already closed / 已关闭"]})
    return catalog.set_need_status(user, need, "closed", reason)


def delete_draft(user: User, need: Need) -> None:
    """Drafts are deleted; anything institutions may have seen is closed instead
    (catalog.delete_need refuses the rest)."""
    catalog.delete_need(user, need)


def change_product(user: User, product: Product, data: dict[str, Any]) -> Product:
    """Edit a product and/or change its status: the one rule for the pages and the API.
    A retired product is kept as it was; a status moves along PRODUCT_TRANSITIONS."""
    message = product_change_problem(product.status, data.get("status", product.status))
    if message:
        code = "retired" if product.status == "retired" else "transition"
        raise Conflict(code, {"status": [message]})
    return catalog.update_product(user, product, data)


def product_change_problem(current: str, status: str) -> str | None:
    """Why a product in `current` may not be changed to `status` (None: it may); the pages,
    API and import alike. A retired product takes no change at all."""
    if current == "retired":
        return "A retired product cannot be changed / 已下架的产品不能修改"
    if status != current and status not in PRODUCT_TRANSITIONS.get(current, ()):
        return f"Cannot go from {current} to {status} / 不能从当前状态变更为该状态"
    return None


def update_product(user: User, product: Product, data: dict[str, Any]) -> Product:
    """Edit a product's terms (the edit page: its status has buttons of its own)."""
    return change_product(user, product, {k: v for k, v in data.items() if k != "status"})


def set_product_status(user: User, product: Product, status: str) -> Product:
    """Pause, resume or retire a product."""
    if status == product.status:
        raise Conflict(
            "transition",
            {
                "status": [
                    f"Cannot go from {product.status} to {status} / 不能从当前状态变更为该状态"
                ]
            },
        )
    return change_product(user, product, {"status": status})
