import { createHmac, timingSafeEqual } from "node:crypto";

const TOLERANCE_SECONDS = 5 * 60; // how far webhook-timestamp may be from our clock, either way

/** Constant-time comparison of two strings. */
function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>. */
export function verifyChapter(secret: string, body: Buffer, header: string | undefined): boolean {
  const expected = "sha256=" + createHmac("sha256", secret).update(body).digest("hex");
  return typeof header === "string" && safeEqual(expected, header);
}

/** A `whsec_<base64>` secret signs with its decoded bytes; any other with its UTF-8 bytes. */
export function signingKey(secret: string): Buffer {
  if (secret.startsWith("whsec_")) {
    const encoded = secret.slice("whsec_".length);
    const key = Buffer.from(encoded, "base64");
    if (key.toString("base64") === encoded) return key;
  }
  return Buffer.from(secret, "utf8");
}

/**
 * Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature (`v1,<base64>`,
 * several separated by spaces while a secret rotates). `now` is the current unix time in seconds.
 */
export function verifyStandard(
  secret: string,
  msgId: string,
  timestamp: string | undefined,
  signatures: string | undefined,
  body: Buffer,
  now: number = Date.now() / 1000,
): boolean {
  if (timestamp === undefined || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(now - Number(timestamp)) > TOLERANCE_SECONDS) return false; // a replay, or from the future
  const expected = createHmac("sha256", signingKey(secret))
    .update(`${msgId}.${timestamp}.`)
    .update(body)
    .digest("base64");
  return (signatures ?? "")
    .split(" ")
    .filter((candidate) => candidate.startsWith("v1,"))
    .some((candidate) => safeEqual(expected, candidate.slice("v1,".length)));
}
// --- test harness below: not part of the README's recipe ---

// Used by ragd's tests, compiled with `tsc --strict` (tests/api/webhooks.rs): node verify.js
// SECRET MSG_ID TIMESTAMP X_WEBHOOK_SIGNATURE WEBHOOK_SIGNATURE [NOW] < body. Prints
// {"chapter": bool, "standard": bool}; exit 0 if both hold. NOW (unix seconds) defaults to the
// clock, so known-answer vectors with an old timestamp can be checked too.
import { argv, stdin, exit } from "node:process";
import { fileURLToPath } from "node:url";

if (argv[1] === fileURLToPath(import.meta.url)) {
  const [secret, msgId, timestamp, chapterHeader, standardHeader, now] = argv.slice(2);
  if (secret === undefined || msgId === undefined) {
    console.error("usage: node verify.js SECRET MSG_ID TIMESTAMP X_WEBHOOK_SIGNATURE WEBHOOK_SIGNATURE [NOW] < body");
    exit(2);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const result = {
    chapter: verifyChapter(secret, body, chapterHeader),
    standard:
      now === undefined
        ? verifyStandard(secret, msgId, timestamp, standardHeader, body)
        : verifyStandard(secret, msgId, timestamp, standardHeader, body, Number(now)),
  };
  console.log(JSON.stringify(result));
  exit(result.chapter && result.standard ? 0 : 1);
}
