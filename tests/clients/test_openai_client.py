"""The official `openai` Python package against ragd's OpenAI-compatible API.

Environment: RAGD_URL, RAGD_USERNAME, RAGD_PASSWORD, RAGD_QUESTION, RAGD_EXPECT_SOURCE, and
RAGD_CHAT_MODEL (optional: the server's own model id, for a chat with the model itself).
Run: python3 -m unittest tests/clients/test_openai_client.py
"""
import os
import re
import unittest

import openai
import requests


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} must be set")
    return value


class OpenAIClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        url = env("RAGD_URL")
        login = requests.post(
            f"{url}/auth/login",
            json={"username": env("RAGD_USERNAME"), "password": env("RAGD_PASSWORD")},
            timeout=30,
        )
        login.raise_for_status()
        token = login.json()["access_token"]
        cls.client = openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0, timeout=120)
        cls.question = env("RAGD_QUESTION")
        cls.expect_source = env("RAGD_EXPECT_SOURCE")
        cls.chat_model = os.environ.get("RAGD_CHAT_MODEL")

    def test_models_name_the_collections(self):
        ids = [m.id for m in self.client.models.list().data]
        self.assertIn("ragd", ids)
        self.assertIn("ragd:documents", ids)
        if self.chat_model:
            self.assertIn(self.chat_model, ids)

    def assert_cited_answer(self, text, sources, flags):
        self.assertTrue(text.strip(), "an answer")
        self.assertTrue(sources, "the response carries its sources")
        self.assertIn(self.expect_source, sources[0]["metadata"]["source"])
        cited = [int(n) for n in re.findall(r"\[(\d+)\]", text)]
        if not cited:
            # A model may answer without citing; ragd then says so, never silently.
            self.assertIn("citation.missing", flags, f"uncited and unflagged: {text!r}")
            return
        self.assertTrue(all(1 <= n <= len(sources) for n in cited), text)
        self.assertIn("Sources:", text, "a plain chat UI sees where [n] points")

    def test_a_completion_cites_its_sources(self):
        completion = self.client.chat.completions.create(
            model="ragd",
            messages=[{"role": "user", "content": self.question}],
        )
        self.assertEqual(completion.object, "chat.completion")
        choice = completion.choices[0]
        self.assertEqual(choice.message.role, "assistant")
        self.assertEqual(choice.finish_reason, "stop")
        extra = completion.model_extra or {}
        self.assert_cited_answer(
            choice.message.content, extra.get("sources"), extra.get("guardrails_triggered", [])
        )

    def test_a_streamed_completion_gives_the_same_kind_of_answer(self):
        stream = self.client.chat.completions.create(
            model="ragd:documents",
            messages=[{"role": "user", "content": self.question}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, sources, finish, usage, flags = "", None, None, None, []
        for chunk in stream:
            extra = chunk.model_extra or {}
            if extra.get("sources") is not None:
                sources = extra["sources"]
            flags = extra.get("guardrails_triggered", flags)
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
        self.assertEqual(finish, "stop")
        self.assertIsNotNone(usage, "include_usage sends a usage chunk")
        self.assert_cited_answer(text, sources, flags)

    def test_an_unknown_model_is_a_not_found_error(self):
        with self.assertRaises(openai.NotFoundError):
            self.client.chat.completions.create(
                model="gpt-4", messages=[{"role": "user", "content": self.question}]
            )

    def test_a_bad_token_is_an_authentication_error(self):
        bad = openai.OpenAI(base_url=self.client.base_url, api_key="not-a-token", max_retries=0)
        with self.assertRaises(openai.AuthenticationError):
            bad.models.list()

    def test_the_servers_own_model_answers_a_plain_chat(self):
        if not self.chat_model:
            self.skipTest("RAGD_CHAT_MODEL is not set: the server answers extractively")
        completion = self.client.chat.completions.create(
            model=self.chat_model,
            messages=[
                {"role": "system", "content": "You are a terse assistant."},
                {"role": "user", "content": "Say hello in one word."},
            ],
            max_tokens=8,
            temperature=0,
        )
        self.assertTrue(completion.choices[0].message.content.strip())
        self.assertGreater(completion.usage.completion_tokens, 0)
        self.assertLessEqual(completion.usage.completion_tokens, 8)
        stream = self.client.chat.completions.create(
            model=self.chat_model,
            messages=[{"role": "user", "content": "Count from one to five."}],
            max_tokens=16,
            stream=True,
        )
        pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
        self.assertTrue("".join(pieces).strip())


if __name__ == "__main__":
    unittest.main()
