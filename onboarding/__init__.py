"""Onboarding: reconcile a store's existing Shopify catalog with the PIM before the first publish.

``matching`` indexes the PIM side and classifies each Shopify product (matched, Shopify-only, ambiguous;
PIM products nobody claims are PIM-only), ``csv_format`` reads Shopify's product CSV exports (legacy and
2025 headers) into the same product shape the bulk export yields, ``importing`` turns a Shopify product into
PIM create arguments, ``report`` writes the CSV/JSON report, and ``services`` runs the whole reconcile
(dry run, ``--apply`` bindings, ``--import-missing``, ``--adopt-shopify-handles``) and the CSV import.
"""
