"""/api/v1/search, /api/v1/needs|products/<id>/matches and /api/v1/me/digest."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import EXCLUDE, Schema, fields, validate

from techfin.api.auth import caller
from techfin.api.core import errors, parse_body, resource_blueprint, visible
from techfin.models import Need, Product
from techfin.services import digests, matching
from techfin.services import search as search_service

search_bp = resource_blueprint("api_search", "search", "Full-text search / 全文搜索")
matches_bp = resource_blueprint("api_matches", "", "Ranked matches with reasons / 匹配推荐")
me_bp = resource_blueprint("api_me", "me", "The caller's own settings / 个人设置")


class SearchQuery(Schema):
    class Meta:
        unknown = EXCLUDE  # facet filters and anything else are read by the search service

    q = fields.String(load_default="", validate=validate.Length(max=10000))
    type = fields.String(validate=validate.OneOf(search_service.TYPES))
    sort = fields.String(validate=validate.OneOf(search_service.SORTS))
    page = fields.Integer(load_default=1, validate=validate.Range(1, 1000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class SearchItem(Schema):
    type = fields.String(required=True)
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    title = fields.String(required=True)
    highlight = fields.String(allow_none=True)


class SearchPage(Schema):
    items = fields.List(fields.Nested(SearchItem), required=True)
    facets = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer()
    per_page = fields.Integer()
    suggestion = fields.String(allow_none=True)


class LimitQuery(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class ModelInfo(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["learned", "prior"]))
    version = fields.String(allow_none=True)


class MatchGap(Schema):
    code = fields.String(required=True)
    rule = fields.String(required=True)
    fixable = fields.Boolean(required=True)
    text = fields.String(required=True)


# The entries' product / need / funder, typed so generated clients can read `.name` (issue
# #14 item 15); the keys are those of services/matching/common.py's summaries.
class MatchFunder(Schema):
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)


class MatchProduct(Schema):
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    min_amount_cny = fields.Integer(allow_none=True)
    max_amount_cny = fields.Integer(allow_none=True)
    min_term_months = fields.Integer(allow_none=True)
    max_term_months = fields.Integer(allow_none=True)
    rate_min = fields.Float(allow_none=True)
    rate_max = fields.Float(allow_none=True)
    funder = fields.Nested(MatchFunder, required=True)


class MatchEnterprise(Schema):
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    name = fields.String(required=True)
    industry = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    high_tech = fields.Boolean(allow_none=True)


class MatchNeed(Schema):
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "The enterprise's name"})
    kind = fields.String(required=True)
    amount_cny = fields.Integer(allow_none=True)
    term_months = fields.Integer(allow_none=True)
    purpose = fields.String(allow_none=True)
    created = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD"})
    enterprise = fields.Nested(MatchEnterprise, required=True)


class MatchEntry(Schema):
    class Meta:
        unknown = EXCLUDE

    type = fields.String(validate=validate.OneOf(["product", "mandate", "need"]))
    product = fields.Nested(MatchProduct, metadata={"description": "type product"})
    need = fields.Nested(MatchNeed, metadata={"description": "type need"})
    funder = fields.Nested(MatchFunder, metadata={"description": "type mandate"})
    score = fields.Float(required=True, validate=validate.Range(0, 1))
    probability = fields.Float(
        allow_none=True,
        validate=validate.Range(0, 1),
        metadata={
            "description": "Calibrated approval odds of the learned model (0–1); null under "
            "the rule-based prior, whose scores only order candidates."
        },
    )
    band = fields.String(
        allow_none=True,
        validate=validate.OneOf(["high", "medium", "low"]),
        metadata={"description": "high ≥ 0.6 > medium ≥ 0.3 > low, from probability"},
    )
    eligible = fields.Boolean()
    fixable = fields.Boolean(
        metadata={
            "description": "Almost-eligible entries: every gap is one the enterprise "
            "can close (amount, term, IP, collateral, certification)"
        }
    )
    score_if_fixed = fields.Float(
        allow_none=True, metadata={"description": "Almost-eligible: score once fixable gaps close"}
    )
    probability_if_fixed = fields.Float(
        allow_none=True, metadata={"description": "Almost-eligible: odds once fixable gaps close"}
    )
    band_if_fixed = fields.String(
        allow_none=True, validate=validate.OneOf(["high", "medium", "low"])
    )
    reasons = fields.List(
        fields.String(), required=True, metadata={"description": "Strongest driver first"}
    )
    reason_codes = fields.List(fields.String())
    missing = fields.List(fields.String(), required=True)
    gaps = fields.List(fields.Nested(MatchGap))


class Matches(Schema):
    model = fields.Nested(ModelInfo, required=True)
    matches = fields.List(fields.Nested(MatchEntry), required=True)


class DigestSettings(Schema):
    period = fields.String(validate=validate.OneOf(["off", "daily", "weekly"]))
    min_score = fields.Float(validate=validate.Range(0, 1))
    locale = fields.String(validate=validate.OneOf(["zh_CN", "en"]))
    scope_ids = fields.List(fields.Integer(validate=validate.Range(1, 2**31 - 1)))
    bounced = fields.Boolean(dump_only=True)


@search_bp.route("")
class Search(MethodView):
    @search_bp.arguments(SearchQuery, location="query")
    @search_bp.response(200, SearchPage)
    @errors(search_bp, 422, 503)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Search everything the caller may see; facet filters as extra query parameters."""
        from flask import request

        return search_service.search(caller(), {**request.args.to_dict(), **args})


@matches_bp.route("/needs/<int:need_id>/matches")
class NeedMatches(MethodView):
    @matches_bp.arguments(LimitQuery, location="query")
    @matches_bp.response(200, Matches)
    @errors(matches_bp, 403, 404, 422)
    def get(self, args: dict[str, Any], need_id: int) -> dict[str, Any]:
        """Products and funds for one of the caller's needs, best first, with reasons."""
        user = caller()
        need = visible(user, Need, need_id)
        return matching.matches_for_need(user, need, args["limit"])


@matches_bp.route("/products/<int:product_id>/matches")
class ProductMatches(MethodView):
    @matches_bp.arguments(LimitQuery, location="query")
    @matches_bp.response(200, Matches)
    @errors(matches_bp, 403, 404, 422)
    def get(self, args: dict[str, Any], product_id: int) -> dict[str, Any]:
        """Published needs for one of the caller's products, best first, with reasons."""
        user = caller()
        product = visible(user, Product, product_id)
        return matching.matches_for_product(user, product, args["limit"])


def _settings(user: Any) -> dict[str, Any]:
    sub = digests.subscription(user)
    return {"period": sub.period, "min_score": sub.min_score, "locale": sub.locale,
            "scope_ids": list(sub.scope_ids or []), "bounced": sub.bounced_at is not None}  # fmt: skip


@me_bp.route("/digest")
class Digest(MethodView):
    @me_bp.response(200, DigestSettings)
    @errors(me_bp)
    def get(self) -> dict[str, Any]:
        """The caller's email digest settings."""
        return _settings(caller())

    @me_bp.doc(
        requestBody={
            "required": True,
            "content": {
                "application/json": {
                    "schema": DigestSettings,
                    "example": {"period": "weekly", "min_score": 0.6, "locale": "zh_CN"},
                }
            },
        }
    )
    @me_bp.response(200, DigestSettings)
    @errors(me_bp, 400, 422)
    def put(self) -> dict[str, Any]:
        """Change the caller's digest settings (saving also clears a bounce)."""
        user = caller()
        current = _settings(user)
        current.pop("bounced")
        digests.update_subscription(user, {**current, **parse_body(DigestSettings, partial=True)})
        return _settings(user)
