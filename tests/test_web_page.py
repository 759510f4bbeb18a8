"""The web page in a real headless browser: upload a file, see the words with their times, click to seek.

Drives Debian's Chromium (scripts/install_test_browser.sh installs it) through Playwright, which is told
where the browser is and never downloads one. Set ASR_CHROMIUM to use another Chromium or Chrome binary.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

# Without these, Chromium tries to reach Google's servers at start and on a closed network stalls on them.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required"]


def _chromium() -> str:
    path = os.environ.get("ASR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium not found: run scripts/install_test_browser.sh (the README's test command does)")
    return path


def _dark_pixels(png: bytes) -> int:
    """Pixels dark enough to be text."""
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return int((grey < 100).sum())


@pytest.fixture()
def page(tmp_path: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1000, "height": 700})
        finally:
            browser.close()


def test_upload_shows_words_with_times_and_a_click_seeks_the_audio(page, digits_server, trained_digits, tmp_path):
    # a connected string the model was trained on: several words, so that seeking to a later one shows
    strings = sorted((Path(trained_digits.best_model).parent / "connected").rglob("*.wav"))
    audio = strings[0]
    expected = httpx.post(f"{digits_server}/transcribe", files={"file": (audio.name, audio.read_bytes())},
                          timeout=60).json()
    assert len(expected["words"]) >= 2

    page.goto(digits_server + "/")
    transcript = page.locator("#transcript")
    blank = transcript.screenshot()
    page.set_input_files("#file", str(audio))
    page.wait_for_selector("#transcript .word", timeout=60_000)

    words = page.locator("#transcript .word")
    assert words.all_inner_texts() == [w["word"] for w in expected["words"]]
    assert page.locator("#words tbody tr").count() == len(expected["words"])
    first_row = page.locator("#words tbody tr").first.locator("td").all_inner_texts()
    assert first_row[:3] == [expected["words"][0]["word"], f"{expected['words'][0]['start']:.2f}",
                             f"{expected['words'][0]['end']:.2f}"]
    assert page.locator("#status").inner_text().startswith(audio.name)

    # the screenshot shows the transcript: text where the empty box was blank
    shot = transcript.screenshot(path=str(tmp_path / "transcript.png"))
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert _dark_pixels(blank) == 0
    assert _dark_pixels(shot) > 200

    # clicking the last word moves the player to that word's start time
    last = expected["words"][-1]
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=30_000)
    words.last.click()
    page.evaluate("document.getElementById('player').pause()")
    position = page.evaluate("document.getElementById('player').currentTime")
    assert last["start"] - 0.01 <= position <= last["end"] + 0.5


def test_a_bad_file_after_a_good_one_shows_the_reason_and_clears_the_last_result(page, digits_server, ten_digits,
                                                                                  tmp_path):
    page.goto(digits_server + "/")
    page.set_input_files("#file", str(ten_digits[3].audio))
    page.wait_for_selector("#transcript .word", timeout=60_000)
    assert page.locator("#player").is_visible() and page.locator("#words").is_visible()

    bogus = tmp_path / "notes.wav"
    bogus.write_bytes(b"not audio at all" * 20)
    page.set_input_files("#file", str(bogus))
    page.wait_for_selector("#status.error", timeout=60_000)
    message = page.locator("#status").inner_text()
    assert "415" in message and "notes.wav: not a readable audio file" in message, message
    assert "Error opening" not in message and "the upload" not in message, message
    # nothing of the previous file is left: no words, no table, no player holding its audio
    assert page.locator("#transcript .word").count() == 0
    assert page.locator("#words tbody tr").count() == 0 and not page.locator("#words").is_visible()
    assert not page.locator("#player").is_visible()
    assert page.evaluate("document.getElementById('player').getAttribute('src')") is None


def test_an_empty_file_is_called_empty(page, digits_server, tmp_path):
    empty = tmp_path / "silence.wav"
    empty.write_bytes(b"")
    page.goto(digits_server + "/")
    page.set_input_files("#file", str(empty))
    page.wait_for_selector("#status.error", timeout=60_000)
    message = page.locator("#status").inner_text()
    assert "silence.wav: the file is empty" in message, message
    assert not page.locator("#player").is_visible()


def test_the_page_says_which_model_runs_and_that_it_knows_only_the_digit_words(page, packaged_digits_server):
    page.goto(packaged_digits_server + "/")
    page.wait_for_function("document.getElementById('model').textContent.includes('recognises')", timeout=30_000)
    text = page.locator("#model").inner_text()
    assert "digits-en.onnx" in text and "packaged" in text, text
    assert "only these 10 words: zero, one, two, three, four, five, six, seven, eight, nine" in text, text
    assert "8000 Hz" in text, text


@pytest.fixture(scope="module")
def packaged_digits_server():
    """``asr serve --model digits`` (the packaged digits model, by name) on a loopback port."""
    from tests.conftest import running_server

    yield from running_server("--model", "digits")


def test_live_transcription_from_the_microphone(packaged_digits_server, tmp_path):
    """Chromium's fake microphone plays a WAV of three digits with pauses (it loops it); the live button streams
    it over the WebSocket and the page shows each utterance as a line."""
    import soundfile as sf
    import soxr
    from playwright.sync_api import sync_playwright

    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fsdd" / "recordings"
    parts = [np.zeros(4000, dtype=np.float32)]
    for name in ("7_george_3", "2_jackson_10", "9_nicolas_4"):
        samples, _ = sf.read(shared / f"{name}.wav", dtype="float32")
        parts += [samples, np.zeros(8000, dtype=np.float32)]
    audio = np.concatenate(parts) + np.random.default_rng(0).normal(0, 3e-4, sum(map(len, parts))).astype(np.float32)
    microphone = tmp_path / "microphone.wav"
    sf.write(microphone, soxr.resample(audio, 8000, 16000), 16000, subtype="PCM_16")
    expected = httpx.post(f"{packaged_digits_server}/transcribe", files={"file": ("m.wav", microphone.read_bytes())},
                          timeout=60).json()["text"].split()
    assert expected == ["seven", "two", "nine"]

    flags = [*CHROMIUM_FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             f"--use-file-for-fake-audio-capture={microphone}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), headless=True, args=flags)
        try:
            page = browser.new_page()
            page.goto(packaged_digits_server + "/")
            page.click("#live")
            page.wait_for_function("document.querySelectorAll('#live-lines .line').length >= 3", timeout=60_000)
            lines = page.locator("#live-lines .line").all_inner_texts()
            page.click("#live")  # stop: the page sends eof
            page.wait_for_function("document.getElementById('live').textContent === 'Live transcription'")
        finally:
            browser.close()
    heard = " ".join(lines).split()
    assert set(heard) <= set(expected) | {"zero", "one", "three", "four", "five", "six", "eight"}
    assert sum(word in heard for word in expected) >= 2, lines  # the looped file's digits, line by line
