"""Encryption at rest for store credentials (MultiFernet over FIELD_ENCRYPTION_KEYS, newest key first).

The first key encrypts; every listed key decrypts, so a new key can be put in front of the old one, the stored
values re-encrypted (``credentials_reencrypt``, ``manage.py rotate_credentials_key``) and the old key dropped.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models, transaction

KEY_HELP = (
    "FIELD_ENCRYPTION_KEYS must be a comma-separated list of url-safe base64-encoded 32-byte keys, newest first "
    "(make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
)


@lru_cache(maxsize=4)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(KEY_HELP)
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(KEY_HELP) from exc


def _keys() -> tuple[str, ...]:
    keys = getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or [settings.FIELD_ENCRYPTION_KEY]
    return tuple(k for k in keys if k)


def encrypt_text(plain: str) -> str:
    """Return the Fernet token of ``plain`` under the newest key (empty text stays empty)."""
    if not plain:
        return ""
    return _multi_fernet(_keys()).encrypt(plain.encode()).decode()


def decrypt_text(token: str) -> str:
    """Return the plain text of a Fernet token made with any listed key.

    Raises ImproperlyConfigured when no listed key fits (a key was dropped before re-encrypting).
    """
    if not token:
        return ""
    try:
        return _multi_fernet(_keys()).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("A stored credential cannot be decrypted with any of FIELD_ENCRYPTION_KEYS.") from exc


def rotate_token(token: str) -> str:
    """Return ``token`` re-encrypted under the newest key; unchanged when it already is (empty stays empty).

    Raises ImproperlyConfigured when no listed key decrypts it.
    """
    if not token:
        return ""
    try:
        Fernet(_keys()[0].encode()).decrypt(token.encode())
        return token  # already under the newest key
    except InvalidToken:
        pass
    try:
        return _multi_fernet(_keys()).rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("A stored credential cannot be decrypted with any of FIELD_ENCRYPTION_KEYS.") from exc


class EncryptedTextField(models.TextField):
    """A text column that stores Fernet ciphertext and gives plain text to Python code."""

    def from_db_value(self, value, expression, connection):
        return decrypt_text(value) if value else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt_text(value) if value else value


def credentials_reencrypt() -> int:
    """Re-encrypt every stored credential under the newest key; return how many values were rewritten.

    Reads the raw ciphertext of every EncryptedTextField of every installed model (history tables included) and
    writes it back rotated, one row at a time with an UPDATE of that row only. Idempotent. Raises
    ImproperlyConfigured (nothing more is rewritten) when a value fits none of FIELD_ENCRYPTION_KEYS.
    """
    rewritten = 0
    for model in apps.get_models(include_auto_created=True):
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if not fields:
            continue
        names = [f.attname for f in fields]
        # Raw ciphertext: a plain values() would decrypt through from_db_value.
        table = model._meta.db_table
        pk_column = model._meta.pk.column
        columns = ", ".join(f'"{f.column}"' for f in fields)
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT "{pk_column}", {columns} FROM "{table}"')  # noqa: S608 (names from models)
            rows = cursor.fetchall()
        for pk, *tokens in rows:
            updates = {}
            for name, token in zip(names, tokens, strict=True):
                if token:
                    rotated = rotate_token(bytes(token).decode() if isinstance(token, memoryview) else token)
                    if rotated != token:
                        updates[name] = rotated
            if not updates:
                continue
            sets = ", ".join(f'"{model._meta.get_field(n).column}" = %s' for n in updates)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f'UPDATE "{table}" SET {sets} WHERE "{pk_column}" = %s',  # noqa: S608
                               [*updates.values(), pk])
            rewritten += len(updates)
    return rewritten
