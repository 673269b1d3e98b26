import base64
import hashlib
import hmac
import time

TOLERANCE_SECONDS = 5 * 60  # how far webhook-timestamp may be from our clock, either way


def verify_chapter(secret: str, body: bytes, header: str) -> bool:
    """X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.encode())


def signing_key(secret: str) -> bytes:
    """A `whsec_<base64>` secret signs with its decoded bytes; any other with its UTF-8 bytes."""
    if secret.startswith("whsec_"):
        encoded = secret[len("whsec_"):]
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            key = None
        if key is not None and base64.b64encode(key).decode() == encoded:
            return key
    return secret.encode()


def verify_standard(secret: str, msg_id: str, timestamp: str, signatures: str,
                    body: bytes, now: float | None = None) -> bool:
    """Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature (`v1,<base64>`,
    several separated by spaces while a secret rotates)."""
    if not (timestamp.isascii() and timestamp.isdigit()):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_SECONDS:
        return False  # too old (a replay) or from the future
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(signing_key(secret), signed, hashlib.sha256).digest())
    return any(
        hmac.compare_digest(expected, candidate[len("v1,"):].encode())
        for candidate in signatures.split(" ")
        if candidate.startswith("v1,")
    )
# --- test harness below: not part of the README's recipe ---


def _main() -> int:
    """Used by ragd's tests: python3 verify.py SECRET MSG_ID TIMESTAMP X_WEBHOOK_SIGNATURE
    WEBHOOK_SIGNATURE < body. Prints {"chapter": bool, "standard": bool}; exit 0 if both hold."""
    import json
    import sys

    secret, msg_id, timestamp, chapter_header, standard_header = sys.argv[1:6]
    body = sys.stdin.buffer.read()
    result = {
        "chapter": verify_chapter(secret, body, chapter_header),
        "standard": verify_standard(secret, msg_id, timestamp, standard_header, body),
    }
    print(json.dumps(result))
    return 0 if all(result.values()) else 1


if __name__ == "__main__":
    raise SystemExit(_main())
