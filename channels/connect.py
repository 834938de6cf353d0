"""Connecting a store without the README: save the connection, test it, and let the apps above set up the rest.

``store_connect_check`` asks Shopify for the shop's name, plan and granted scopes and turns the usual failures
into what a catalog manager should do next (a 401 after a token was copied wrongly, a 403 naming the scope to
grant and where). When the test passes, every registered *connect step* runs: ``inventory`` lists the shop's
locations (with a button to map them) and registers the webhook subscriptions the PIM needs. Steps are
registered with ``connect_step_register`` in ``AppConfig.ready()``; ``channels`` does not import them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .clients import client_for_store
from .models import Store
from .shopify.exceptions import ShopifyAuthError, ShopifyError, ShopifyNotFound, ShopifyScopeError
from .shopify.shop_api import REQUIRED_SCOPES

CUSTOM_APP_STEPS = (
    "In the store's Shopify admin open Settings → Apps and sales channels → Develop apps (allow custom app "
    "development if asked) and create an app.",
    "Configuration → Admin API integration: tick exactly the scopes listed here, and save.",
    "Install the app, then reveal and copy the Admin API access token. Shopify shows it only once: if it is lost, "
    "uninstall and reinstall the app to get a new one.",
    "Copy the API secret key too (API credentials): Shopify signs the store's webhooks with it.",
)
DEV_DASHBOARD_STEPS = (
    "In Shopify's Dev Dashboard create an app, give its version exactly the scopes listed here, release it and "
    "install it on the store.",
    "Copy the app's client ID and client secret (Settings). The PIM asks Shopify for short-lived tokens with them "
    "(client credentials) and verifies the app's webhooks with the same secret.",
)


@dataclass
class ConnectLine:
    label: str
    value: str
    ok: bool = True
    action_url: str = ""  # a button next to the line (e.g. "Map locations")
    action_label: str = ""


@dataclass
class ConnectionCheck:
    ok: bool
    shop_name: str = ""
    plan: str = ""
    granted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problem: str = ""  # what went wrong, and what to do about it
    lines: list[ConnectLine] = field(default_factory=list)  # from the connect steps


ConnectStep = Callable[[Store, str], list[ConnectLine]]  # (store, webhook address) -> lines
_steps: dict[str, ConnectStep] = {}


def connect_step_register(*, name: str, step: ConnectStep) -> None:
    """Add (or replace) a step that runs after a passing connection test (locations, webhooks, ...)."""
    _steps[name] = step


def required_scopes() -> tuple[str, ...]:
    """The Admin API scopes to grant the app (the client's list, which publishing and inventory need)."""
    return REQUIRED_SCOPES


def _scope_advice(scope: str, store: Store) -> str:
    where = ("the app's configuration (Admin API scopes) in the store's admin, then reinstall the app"
             if store.auth_mode == Store.AuthMode.STATIC_TOKEN
             else "the app's version in the Dev Dashboard, release it, then update the installation")
    return f"grant {scope} in {where}"


def store_connect_check(*, store: Store, webhook_url: str = "", client=None) -> ConnectionCheck:
    """Test ``store``'s connection and, when it passes with every scope, run the connect steps.

    Talks to Shopify: call it outside a transaction. Never raises for Shopify's answers: they become the check's
    ``problem``. A step that fails reports its own line instead of stopping the others.
    """
    client = client or client_for_store(store)
    try:
        report = client.test_connection()
    except ShopifyAuthError:
        advice = ("Check the Admin API access token (Shopify shows it only once: reinstall the app for a new one)."
                  if store.auth_mode == Store.AuthMode.STATIC_TOKEN else
                  "Check the client ID and secret, and that the app is installed on this store.")
        return ConnectionCheck(ok=False, problem=f"Shopify refused the credentials (401). {advice}")
    except ShopifyScopeError as exc:
        scope = exc.missing_scope or "a required scope"
        return ConnectionCheck(ok=False, problem=f"Access denied (403): the app lacks {scope}; "
                                                 f"{_scope_advice(scope, store)}.")
    except ShopifyNotFound:
        return ConnectionCheck(ok=False, problem=f"No shop answers at {store.shop_domain}: check the domain "
                                                 "(the *.myshopify.com name, not the store's public domain).")
    except ShopifyError as exc:
        return ConnectionCheck(ok=False, problem=f"Shopify did not answer as expected: {exc}")
    check = ConnectionCheck(ok=not report.missing_scopes, shop_name=report.shop_name, plan=report.plan,
                            granted=list(report.granted_scopes), missing=list(report.missing_scopes))
    if report.missing_scopes:
        check.problem = ("The app lacks " + ", ".join(report.missing_scopes) + ": "
                         + _scope_advice(", ".join(report.missing_scopes), store) + ".")
        return check
    for name, step in _steps.items():
        try:
            check.lines.extend(step(store, webhook_url))
        except ShopifyError as exc:
            check.lines.append(ConnectLine(name, f"failed: {exc}", ok=False))
    return check
