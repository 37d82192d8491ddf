"""WeChat / WeCom callback signatures and AES message encryption, so both callbacks can trust their input."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

AES_KEY_CHARS = 43
BLOCK_SIZE = 32  # WeChat pads to 32-byte blocks, not AES's 16
_AES_KEY_RE = re.compile(r"[A-Za-z0-9+/]{43}")


class WeChatCryptoError(Exception):
    """Base of every refusal of a signed or encrypted payload, so a handler can catch them together."""


class InvalidSignature(WeChatCryptoError):
    """The request was not signed with our token: the handler answers 403."""


class DecryptError(WeChatCryptoError):
    """The ciphertext is not base64, not block-aligned, badly padded or truncated: the handler answers 400."""


class AppIdMismatch(WeChatCryptoError):
    """The message decrypted but was meant for another AppID / CorpID: the handler answers 400."""


class InvalidAESKey(ValueError):
    """The configured EncodingAESKey is unusable; raised at startup so the mistake is seen before any message."""


def decode_aes_key(encoding_aes_key: str, setting: str = "EncodingAESKey") -> bytes:
    """Turn the 43-character EncodingAESKey from the console into the 32-byte AES key, or say what is wrong."""
    key = encoding_aes_key.strip()
    if len(key) != AES_KEY_CHARS:
        raise InvalidAESKey(
            f"{setting} must be the {AES_KEY_CHARS}-character EncodingAESKey shown in the "
            f"WeChat/WeCom console (got {len(key)} characters)"
        )
    if not _AES_KEY_RE.fullmatch(key):
        raise InvalidAESKey(f"{setting} may contain only letters, digits, '+' and '/'")
    raw = base64.b64decode(key + "=")
    if len(raw) != 32:  # pragma: no cover - 43 base64 characters always give 32 bytes
        raise InvalidAESKey(f"{setting} does not decode to a 32-byte AES key")
    return raw


def signature(token: str, timestamp: str, nonce: str, encrypt: str | None = None) -> str:
    """SHA-1 over the sorted parts, as WeChat signs `signature` (3 parts) and `msg_signature` (4 parts)."""
    parts = [token, timestamp, nonce] if encrypt is None else [token, timestamp, nonce, encrypt]
    data = b"".join(sorted(p.encode("utf-8") for p in parts))
    return hashlib.sha1(data).hexdigest()


def check_signature(
    token: str, sig: str, timestamp: str, nonce: str, encrypt: str | None = None
) -> None:
    """Raise InvalidSignature unless `sig` matches; constant time so the token cannot be guessed byte by byte."""
    expected = signature(token, timestamp, nonce, encrypt).encode("ascii")
    if not sig or not hmac.compare_digest(expected, sig.encode("utf-8")):
        raise InvalidSignature("signature mismatch")


def _pkcs7_pad(data: bytes) -> bytes:
    n = BLOCK_SIZE - len(data) % BLOCK_SIZE
    return data + bytes([n]) * n


def _pkcs7_unpad(data: bytes) -> bytes:
    if not data:
        raise DecryptError("empty plaintext")
    n = data[-1]
    if not 1 <= n <= BLOCK_SIZE or n > len(data) or data[-n:] != bytes([n]) * n:
        raise DecryptError("bad padding")
    return data[:-n]


class MessageCrypto:
    """One account's token, AES key and AppID (WeChat) or CorpID (WeCom): the whole safe-mode protocol."""

    def __init__(
        self, token: str, encoding_aes_key: str, receive_id: str, setting: str = "EncodingAESKey"
    ) -> None:
        """Validate the key now, so a typo in the settings stops startup with a clear message."""
        self.token = token
        self.key = decode_aes_key(encoding_aes_key, setting)
        self.receive_id = receive_id

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: str, random_prefix: bytes | None = None) -> str:
        """Encrypt a reply the way WeChat expects: random(16) + length(4, big-endian) + msg + receive id."""
        msg = message.encode("utf-8")
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError("random_prefix must be 16 bytes")
        plain = prefix + len(msg).to_bytes(4, "big") + msg + self.receive_id.encode("utf-8")
        enc = self._cipher().encryptor()
        data = enc.update(_pkcs7_pad(plain)) + enc.finalize()
        return base64.b64encode(data).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """Decrypt an `Encrypt` field or WeCom echostr; raise DecryptError / AppIdMismatch on anything odd."""
        try:
            data = base64.b64decode(ciphertext.strip(), validate=True)
        except (binascii.Error, ValueError) as e:
            raise DecryptError("ciphertext is not valid base64") from e
        if not data or len(data) % 16:
            raise DecryptError("ciphertext is not a whole number of AES blocks")
        dec = self._cipher().decryptor()
        plain = _pkcs7_unpad(dec.update(data) + dec.finalize())
        if len(plain) < 20:
            raise DecryptError("plaintext too short")
        body = plain[16:]
        length = int.from_bytes(body[:4], "big")
        if length > len(body) - 4:
            raise DecryptError("length field exceeds the message")
        msg, rid = body[4 : 4 + length], body[4 + length :]
        if not hmac.compare_digest(rid, self.receive_id.encode("utf-8")):
            raise AppIdMismatch("message is for another AppID/CorpID")
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecryptError("message is not UTF-8") from e

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """The msg_signature WeChat checks on our encrypted reply."""
        return signature(self.token, timestamp, nonce, encrypt)

    def decrypt_verified(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> str:
        """Check msg_signature first, then decrypt: an unsigned ciphertext is never even decrypted."""
        check_signature(self.token, msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)
