"""The shop and its sales channels: the connection test, required scopes and publications.

``ShopApiMixin`` is the part of ``ShopifyClient`` that reads the shop, its granted scopes and its
publications, and publishes or unpublishes resources on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from . import queries
from .throttle import CostInfo
from .transport import ShopifyTransport

REQUIRED_SCOPES: tuple[str, ...] = (
    "read_products",
    "write_products",
    "read_inventory",
    "write_inventory",
    "read_locations",
    "read_orders",
    "read_publications",
    "write_publications",
    "read_merchant_managed_fulfillment_orders",  # where online orders' stock was committed (inventory writeback)
)


@dataclass(frozen=True)
class ConnectionReport:
    """What ``test_connection`` learned about the shop and the app's access."""

    shop_name: str
    myshopify_domain: str
    plan: str
    granted_scopes: list[str]
    missing_scopes: list[str]
    shopify_plus: bool = False
    partner_development: bool = False
    currency_code: str | None = None
    api_version: str = ""
    cost: CostInfo | None = field(default=None, compare=False)
    #: The shop's sales channels (publication catalog titles); empty if read_publications is missing.
    publications: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing_scopes


def missing_scopes(granted: Iterable[str], required: Iterable[str] = REQUIRED_SCOPES) -> list[str]:
    """Return the required scopes not covered by ``granted`` (a ``write_x`` scope covers ``read_x``)."""
    granted_set = set(granted)
    result = []
    for scope in required:
        if scope in granted_set:
            continue
        if scope.startswith("read_") and "write_" + scope[len("read_") :] in granted_set:
            continue
        result.append(scope)
    return result


class ShopApiMixin(ShopifyTransport):
    """Shop, scopes and sales channels of ``ShopifyClient``."""

    def test_connection(self) -> ConnectionReport:
        """Fetch the shop's name, domain, plan and granted scopes and compare them with REQUIRED_SCOPES.

        Raises ShopifyAuthError for a bad token, ShopifyNotFound for an unknown shop, and the other errors
        of ``execute``.
        """
        data = self.execute(queries.SHOP_INFO)
        shop = data.get("shop") or {}
        plan = shop.get("plan") or {}
        installation = data.get("currentAppInstallation") or {}
        granted = sorted(
            {scope.get("handle") for scope in installation.get("accessScopes") or [] if scope.get("handle")}
        )
        cost = self.last_cost
        channels: list[str] = []
        if not missing_scopes(granted, ("read_publications",)):
            channels = [p["title"] for p in self.publications()]
        return ConnectionReport(
            shop_name=shop.get("name") or "",
            myshopify_domain=shop.get("myshopifyDomain") or "",
            plan=plan.get("publicDisplayName") or "",
            granted_scopes=granted,
            missing_scopes=missing_scopes(granted),
            shopify_plus=bool(plan.get("shopifyPlus")),
            partner_development=bool(plan.get("partnerDevelopment")),
            currency_code=shop.get("currencyCode"),
            api_version=self.api_version,
            cost=cost,
            publications=channels,
        )

    # --- sales channels ---------------------------------------------------------------------------------------
    def publications(self) -> list[dict]:
        """Return the shop's publications (sales channels) as ``{id, title, autoPublish}``; ``title`` is the
        catalog title Shopify shows (e.g. "Online Store"). Raises ShopifyScopeError without
        read_publications, and the errors of ``execute``."""
        result: list[dict] = []
        after = None
        while True:
            data = self.execute(queries.PUBLICATIONS, {"first": 50, "after": after})
            connection = data.get("publications") or {}
            for node in connection.get("nodes") or []:
                title = ((node.get("catalog") or {}).get("title")) or ""
                result.append({"id": node["id"], "title": title, "autoPublish": node.get("autoPublish")})
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return result
            after = page.get("endCursor")

    def publishable_publish(self, *, resource_id: str, publication_ids: Iterable[str]) -> None:
        """Put a product (or collection) on the given publications. Publishing where it already is changes
        nothing. Raises ShopifyUserError (e.g. an unknown publication), ShopifyScopeError without
        write_publications, and the errors of ``execute``."""
        ids = list(publication_ids)
        if ids:
            self.execute(queries.PUBLISHABLE_PUBLISH,
                         {"id": resource_id, "input": [{"publicationId": pid} for pid in ids]})

    def publishable_unpublish(self, *, resource_id: str, publication_ids: Iterable[str]) -> None:
        """Take a product off the given publications. Raises the errors of ``publishable_publish``."""
        ids = list(publication_ids)
        if ids:
            self.execute(queries.PUBLISHABLE_UNPUBLISH,
                         {"id": resource_id, "input": [{"publicationId": pid} for pid in ids]})
