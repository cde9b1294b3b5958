"""Hypothesis strategies shared by the test suite."""

from __future__ import annotations

import base64

from hypothesis import strategies as st

#: Raw request bodies: anything, including invalid UTF-8 and the empty body.
bodies = st.binary(max_size=2048)

#: Bodies the peers can handle: they decode to `str` before signing.
text_bodies = st.text(max_size=512)

#: Text secrets as a provider's dashboard shows them: non-empty, without the surrounding
#: whitespace that verifiers refuse (it is the newline of a secrets file, not part of the key).
text_secrets = st.text(min_size=1, max_size=80).filter(lambda text: text == text.strip())

#: Secrets for the hex schemes: text or non-empty bytes, used as the HMAC key as they are.
hex_secrets = st.one_of(text_secrets, st.binary(min_size=1, max_size=130))

#: Standard Webhooks secrets: `whsec_` + base64 of 16 to 80 random key bytes.
standard_secrets = st.binary(min_size=16, max_size=80).map(
    lambda key: "whsec_" + base64.b64encode(key).decode()
)

#: Message ids as senders make them: printable ASCII without spaces.
message_ids = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)

#: Header values an attacker might send: any text, including non-ASCII, NUL and huge values.
garbage_values = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="v1,=+/ abcdefABCDEF0123456789", max_size=200),
    st.binary(max_size=100),
    st.text(min_size=5000, max_size=9000, alphabet="A"),
)

#: ed25519 private keys as their 32-byte seeds (the `whsk_` form Standard Webhooks' v1a uses).
ed25519_seeds = st.binary(min_size=32, max_size=32)

#: Several distinct raw keys, for rotation lists: every scheme takes raw key bytes as they are.
distinct_keys = st.lists(st.binary(min_size=16, max_size=64), min_size=1, max_size=4, unique=True)

#: Key ids as `SigningKey` takes them: 1 to 64 printable ASCII characters without spaces.
key_ids = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64
)

#: Tenant ids as `TenantSecrets` takes them: 1 to 64 letters, digits, '.', '_' or '-'.
tenant_ids = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
    min_size=1,
    max_size=64,
)
