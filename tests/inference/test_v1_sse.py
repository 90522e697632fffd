"""The /v1 stream's events, as bytes: one line each, whatever text the model generated."""

import json

from inference.serving.v1.chunks import sse


def test_an_event_stays_one_line_for_readers_that_split_on_every_unicode_line_break():
    # Random-weight models do generate these; Python's str.splitlines() (and requests'
    # iter_lines()) would end a line at each one, SSE readers only at \n and \r.
    text = "a\x85b\u2028c\u2029d\x0be\x1cf\n\r\u00e9\ufffd"
    event = sse({"choices": [{"delta": {"content": text}}]})
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    lines = event.decode().splitlines()
    assert len(lines) == 2 and lines[1] == ""  # the event's line, then the blank line ending it
    assert json.loads(lines[0].removeprefix("data: "))["choices"][0]["delta"]["content"] == text
    assert "\u00e9\ufffd" in lines[0]  # other text stays as it is (UTF-8, not escaped)
