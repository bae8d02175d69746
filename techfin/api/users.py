"""/api/v1/users — suspend and reactivate accounts (operators and admins).

The same service function as the operator console's buttons (moderation.set_user_active):
the role hierarchy (accounts.can_manage) holds here too, so an operator's token cannot
suspend an administrator or another operator.
"""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from techfin.api.auth import caller
from techfin.api.core import (
    body_doc,
    errors,
    parse_body,
    require,
    resource_blueprint,
)
from techfin.models import User
from techfin.services import lookup, moderation
from techfin.services.records import Strict

bp = resource_blueprint("api_users", "users", "Accounts (operators) / 账户管理")


class UserOut(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)
    active = fields.Boolean(required=True)


class UserUpdate(Strict):
    active = fields.Boolean(
        required=True, metadata={"description": "false suspends, true reactivates"}
    )


@bp.route("/<int:user_id>")
class UserById(MethodView):
    @bp.doc(requestBody=body_doc(UserUpdate, example={"active": True}))
    @bp.response(200, UserOut)
    @errors(bp, 400, 403, 404, 409, 422)
    def patch(self, user_id: int) -> User:
        """Suspend (logged out everywhere, API tokens stop) or reactivate an account."""
        user = caller()
        require(user.is_operator)
        target = lookup.get(User, user_id)
        data = parse_body(UserUpdate)
        return moderation.set_user_active(user, target, data["active"])
