"""Contract test: the chapter's Python RAGClient (section 7.1) against a running ragd.

Environment: RAGD_URL, RAGD_USERNAME, RAGD_PASSWORD, RAGD_QUESTION, RAGD_EXPECT_SOURCE.
Run: python3 -m unittest tests/clients/test_chapter_client.py
"""
import os
import sys
import unittest

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chapter_client import RAGClient, RAGResponse  # noqa: E402


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} must be set")
    return value


class ChapterPythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.url = env("RAGD_URL")
        cls.username = env("RAGD_USERNAME")
        cls.password = env("RAGD_PASSWORD")
        cls.question = env("RAGD_QUESTION")
        cls.expect_source = env("RAGD_EXPECT_SOURCE")
        cls.client = RAGClient(cls.url)
        cls.token = cls.client.authenticate(cls.username, cls.password)

    def assert_http_error(self, status, call, *args, **kwargs):
        with self.assertRaises(requests.HTTPError) as ctx:
            call(*args, **kwargs)
        self.assertEqual(ctx.exception.response.status_code, status)
        return ctx.exception.response

    def assert_unit_float(self, value, what):
        self.assertIsInstance(value, float, what)
        self.assertGreaterEqual(value, 0.0, what)
        self.assertLessEqual(value, 1.0, what)

    def test_authenticate_sets_token(self):
        self.assertIsInstance(self.token, str)
        self.assertTrue(self.token)
        self.assertEqual(self.client.session.headers["Authorization"], f"Bearer {self.token}")

    def test_query_with_defaults(self):
        result = self.client.query(self.question)
        self.assertIsInstance(result, RAGResponse)
        self.assertIsInstance(result.answer, str)
        self.assertTrue(result.answer.strip())
        self.assertIsInstance(result.sources, list)
        for source in result.sources:
            self.assertIsInstance(source, dict)
            self.assertIsInstance(source["content"], str)
            self.assert_unit_float(source["similarity"], "similarity")
            self.assertIsInstance(source["metadata"], dict)
        self.assert_unit_float(result.confidence, "confidence")
        self.assertIsInstance(result.processing_time, float)
        self.assertGreater(result.processing_time, 0.0)
        self.assertIsInstance(result.request_id, str)
        self.assertTrue(result.request_id)
        self.assertTrue(
            any(self.expect_source in str(s["metadata"].get("source", "")) or self.expect_source in s["content"]
                for s in result.sources),
            f"no source mentions {self.expect_source!r}: {result.sources!r}",
        )

    def test_query_with_all_options(self):
        result = self.client.query(
            self.question, max_results=3, threshold=0.0, use_guardrails=True, conversation_id="conv-1"
        )
        self.assertIsInstance(result, RAGResponse)
        self.assertTrue(result.answer.strip())
        self.assertLessEqual(len(result.sources), 3)

    def test_health_check(self):
        health = self.client.health_check()
        self.assertIsInstance(health, dict)
        for key in ("status", "version", "timestamp", "database_status", "model_status"):
            self.assertIn(key, health)

    def test_wrong_password_is_401(self):
        self.assert_http_error(401, RAGClient(self.url).authenticate, self.username, self.password + "-wrong")

    def test_query_without_token_is_401(self):
        self.assert_http_error(401, RAGClient(self.url).query, self.question)

    def test_short_query_is_422_envelope(self):
        body = self.assert_http_error(422, self.client.query, "ab").json()
        self.assertEqual(body["error"], "validation_error")
        self.assertIsInstance(body["details"], list)
        self.assertTrue(body["request_id"])
        self.assertIn("timestamp", body)

    def test_every_response_has_request_id_header(self):
        session = requests.Session()
        auth = {"Authorization": f"Bearer {self.token}"}
        calls = {
            "health": lambda: session.get(f"{self.url}/health"),
            "login": lambda: session.post(
                f"{self.url}/auth/login", data={"username": self.username, "password": self.password}
            ),
            "bad login": lambda: session.post(f"{self.url}/auth/login", data={"username": "x", "password": "y"}),
            "query": lambda: session.post(f"{self.url}/query", json={"query": self.question}, headers=auth),
            "query no token": lambda: session.post(f"{self.url}/query", json={"query": self.question}),
            "query invalid": lambda: session.post(f"{self.url}/query", json={"query": "ab"}, headers=auth),
            "stats": lambda: session.get(f"{self.url}/stats", headers=auth),
        }
        for name, call in calls.items():
            with self.subTest(name):
                self.assertTrue(call().headers.get("X-Request-ID"))


if __name__ == "__main__":
    unittest.main()
