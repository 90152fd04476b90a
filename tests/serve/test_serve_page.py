"""The chat page in headless Chromium (Debian's package, driven by Playwright with the system
browser): type a message, watch the streamed answer with its thinking folded apart, switch
thinking off, stop a generation; a screenshot is saved for a person to look at.

The model is the built-in one made to write a fixed answer (it does not know the chat format), so
what the page must show is known before the test runs."""

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from minireason.io.chat_template import EMPTY_THINKING

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="the page test drives Chromium with playwright "
                                                            "(pip install playwright)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install -y chromium)")

REASONING = "I add the ones, then the tens. " * 4
ANSWER = "The answer is 879."


class ScriptedChatModel:
    """The built-in model (its cache, its shapes), made to answer every prompt with a fixed text:
    with thinking on ``<think>\\nREASONING\\n</think>\\n\\nANSWER``, with thinking off ``ANSWER``; one
    conversation at a time, each forward at least ``seconds`` long."""

    def __init__(self, model, tokenizer, seconds):
        self.model, self.tokenizer, self.seconds = model, tokenizer, seconds
        self.thinking_script = tokenizer.encode(f"<think>\n{REASONING}\n</think>\n\n{ANSWER}")
        self.answer_script = tokenizer.encode(ANSWER)
        self.script, self.prompt_length = [], 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def forward(self, token_ids, attention_mask=None, kv_cache=None, last_only=False):
        time.sleep(self.seconds)
        token_ids = np.asarray(token_ids)
        if token_ids.shape[1] > 1:  # a prefill: a new answer starts
            prompt = self.tokenizer.decode(token_ids[0].tolist())
            self.script = self.answer_script if prompt.endswith(EMPTY_THINKING) else self.thinking_script
            self.prompt_length = token_ids.shape[1]
        logits, cache = self.model.forward(token_ids, attention_mask, kv_cache=kv_cache, last_only=last_only)
        logits = np.full_like(logits, -30.0)
        for row, written in enumerate(kv_cache.next_positions - self.prompt_length):
            script = self.script + [self.tokenizer.eos_token_id]
            logits[row, -1, script[min(written, len(script) - 1)]] = 30.0
        return logits, cache


@pytest.fixture(scope="module")
def page_server(start_server, base):
    model, tokenizer = base
    with start_server(model=ScriptedChatModel(model, tokenizer, seconds=0.03), max_rows=4) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-dev-shm-usage"])
        yield browser
        browser.close()


def test_the_chat_page_streams_folds_thinking_and_stops(page_server, browser, tmp_path_factory):
    url, scheduler = page_server
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.set_default_timeout(20_000)
    page.goto(url + "/")
    sync_api.expect(page.locator("#model")).to_have_text("builtin:base")

    # a message, its streamed answer: the thinking in its own block, the answer below, tokens/s
    page.fill("#message", "What is 482+397?")
    page.press("#message", "Enter")
    turn = page.locator(".turn.assistant").nth(0)
    sync_api.expect(turn.locator(".reasoning")).to_contain_text("I add the ones")
    sync_api.expect(page.locator("#stop")).to_be_enabled()  # still streaming
    sync_api.expect(turn.locator(".content")).to_have_text(ANSWER)
    sync_api.expect(turn.locator(".speed")).to_contain_text("tokens/s")
    assert turn.locator(".reasoning").text_content().strip() == REASONING.strip()
    assert turn.locator("details.thinking").get_attribute("open") is None  # folded once answered
    turn.locator("details.thinking summary").click()  # unfold it for the screenshot
    folder = Path(os.environ.get("MINIREASON_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "chat_page.png"))
    assert (folder / "chat_page.png").stat().st_size > 10_000  # a rendered page, not a blank one
    print(f"screenshot: {folder / 'chat_page.png'}")

    # thinking off: the request says so, and the answer has no thinking block
    page.uncheck("#thinking")
    with page.expect_request("**/v1/chat/completions") as sent:
        page.fill("#message", "And without thinking?")
        page.press("#message", "Enter")
    assert sent.value.post_data_json["chat_template_kwargs"] == {"enable_thinking": False}
    assert [m["role"] for m in sent.value.post_data_json["messages"]] == ["user", "assistant", "user"]
    second = page.locator(".turn.assistant").nth(1)
    sync_api.expect(second.locator(".content")).to_have_text(ANSWER)
    assert second.locator("details.thinking").is_hidden()

    # stop: the answer ends where it was, and the server's slot is free again
    page.check("#thinking")
    cancelled_before = scheduler.stats()["cancelled"]
    page.fill("#message", "A long one, please.")
    page.press("#message", "Enter")
    third = page.locator(".turn.assistant").nth(2)
    sync_api.expect(third.locator(".reasoning")).to_contain_text("I add")
    page.click("#stop")
    sync_api.expect(third.locator(".speed")).to_have_text("[stopped]")
    assert not third.locator(".content").inner_text()
    deadline = time.monotonic() + 10
    while scheduler.stats()["running_rows"] or scheduler.stats()["cancelled"] == cancelled_before:
        assert time.monotonic() < deadline, "the stopped request still holds its slot"
        time.sleep(0.05)
    page.close()
