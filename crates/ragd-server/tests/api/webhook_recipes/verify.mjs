import { createHmac, timingSafeEqual } from "node:crypto";

const TOLERANCE_SECONDS = 5 * 60; // how far webhook-timestamp may be from our clock, either way

/** Constant-time comparison of two strings. */
function safeEqual(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>.
 * @param {string} secret @param {Buffer} body the raw request body @param {string} header
 */
export function verifyChapter(secret, body, header) {
  const expected = "sha256=" + createHmac("sha256", secret).update(body).digest("hex");
  return typeof header === "string" && safeEqual(expected, header);
}

/** A `whsec_<base64>` secret signs with its decoded bytes; any other with its UTF-8 bytes. */
export function signingKey(secret) {
  if (secret.startsWith("whsec_")) {
    const encoded = secret.slice("whsec_".length);
    const key = Buffer.from(encoded, "base64");
    if (key.toString("base64") === encoded) return key;
  }
  return Buffer.from(secret, "utf8");
}

/**
 * Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature (`v1,<base64>`,
 * several separated by spaces while a secret rotates).
 * @param {string} secret @param {string} msgId @param {string} timestamp
 * @param {string} signatures @param {Buffer} body the raw request body
 * @param {number} [now] unix seconds
 */
export function verifyStandard(secret, msgId, timestamp, signatures, body, now = Date.now() / 1000) {
  if (!/^\d+$/.test(timestamp ?? "")) return false;
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

// Used by ragd's tests: node verify.mjs SECRET MSG_ID TIMESTAMP X_WEBHOOK_SIGNATURE
// WEBHOOK_SIGNATURE < body. Prints {"chapter": bool, "standard": bool}; exit 0 if both hold.
import { argv, stdin, exit } from "node:process";
import { fileURLToPath } from "node:url";

if (argv[1] === fileURLToPath(import.meta.url)) {
  const [secret, msgId, timestamp, chapterHeader, standardHeader] = argv.slice(2);
  const chunks = [];
  for await (const chunk of stdin) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  const result = {
    chapter: verifyChapter(secret, body, chapterHeader),
    standard: verifyStandard(secret, msgId, timestamp, standardHeader, body),
  };
  console.log(JSON.stringify(result));
  exit(result.chapter && result.standard ? 0 : 1);
}
