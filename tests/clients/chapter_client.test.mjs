// Contract test: the chapter's TypeScript RAGClient (section 7.2, as plain JS) against a
// running ragd. Environment: RAGD_URL, RAGD_USERNAME, RAGD_PASSWORD, RAGD_QUESTION.
// Run: node --test tests/clients/chapter_client.test.mjs
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { RAGClient } from './chapter_client.mjs';

function env(name) {
    const value = process.env[name];
    if (!value) throw new Error(`environment variable ${name} must be set`);
    return value;
}

const url = env('RAGD_URL');
const username = env('RAGD_USERNAME');
const password = env('RAGD_PASSWORD');
const question = env('RAGD_QUESTION');
const client = new RAGClient(url);
let token;

before(async () => {
    token = await client.authenticate(username, password);
});

test('authenticate returns a token', () => {
    assert.equal(typeof token, 'string');
    assert.ok(token.length > 0);
});

test('query returns the chapter RAGResponse shape', async () => {
    const r = await client.query({ query: question });
    assert.equal(typeof r.request_id, 'string');
    assert.ok(r.request_id.length > 0);
    assert.equal(typeof r.query, 'string');
    assert.equal(typeof r.answer, 'string');
    assert.ok(r.answer.trim().length > 0);
    assert.ok(Array.isArray(r.sources));
    for (const s of r.sources) {
        assert.equal(typeof s.content, 'string');
        assert.equal(typeof s.similarity, 'number');
        assert.equal(typeof s.metadata, 'object');
        assert.ok(s.metadata !== null && !Array.isArray(s.metadata));
    }
    assert.equal(typeof r.confidence, 'number');
    assert.equal(typeof r.processing_time, 'number');
    assert.equal(typeof r.timestamp, 'string');
    assert.ok(!Number.isNaN(Date.parse(r.timestamp)), `unparseable timestamp ${r.timestamp}`);
    assert.ok(Array.isArray(r.guardrails_triggered));
    for (const g of r.guardrails_triggered) assert.equal(typeof g, 'string');
});

test('healthCheck returns the health fields', async () => {
    const h = await client.healthCheck();
    for (const key of ['status', 'version', 'timestamp', 'database_status', 'model_status']) {
        assert.ok(key in h, `missing ${key}`);
    }
});

test('getStats returns the stats fields', async () => {
    const s = await client.getStats();
    assert.equal(typeof s.documents_count, 'number');
    assert.ok(s.documents_count > 0);
    assert.equal(typeof s.embeddings_model, 'string');
    assert.equal(typeof s.llm_model, 'string');
    assert.equal(typeof s.uptime, 'number');
});

test('wrong password rejects with an Error', async () => {
    await assert.rejects(new RAGClient(url).authenticate(username, `${password}-wrong`), Error);
});

test('over-long query rejects with the server message', async () => {
    const body = JSON.stringify({ query: 'a'.repeat(1001) });
    const raw = await fetch(`${url}/query`, {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    });
    assert.equal(raw.status, 422);
    const { message } = await raw.json();
    assert.equal(typeof message, 'string');
    assert.ok(message.length > 0);
    await assert.rejects(client.query({ query: 'a'.repeat(1001) }), { name: 'Error', message });
});
