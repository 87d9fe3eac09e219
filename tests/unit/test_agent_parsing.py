"""Tool-call parsing and observation rendering of the agent loop (no engine, no sandbox)."""
from __future__ import annotations

import pytest

from rollout.agent_loop import ObservationTemplate
from rollout.tools import ToolCall, XMLToolParser, setup_tool_parser


def test_xml_parser_takes_the_last_complete_block():
    p = XMLToolParser(("bash", "python"))
    assert p.parse("I will look.<bash> ls -la </bash>") == ToolCall("bash", "ls -la")
    assert p.parse("<bash>a</bash> then <python>print(1)</python>") == ToolCall("python", "print(1)")
    assert p.parse("<bash>echo 'multi\nline'</bash>") == ToolCall("bash", "echo 'multi\nline'")
    assert p.parse("DONE") is None
    assert p.parse("<bash>unterminated") is None
    assert p.parse("<bash>x</python>") is None


def test_parser_setup_errors_name_the_key():
    with pytest.raises(ValueError, match="rollout.agent.tool_parser"):
        setup_tool_parser("nonsense", ("bash",))
    with pytest.raises(ValueError, match="tool_tags"):
        XMLToolParser(())
    assert isinstance(setup_tool_parser("xml", ("bash",)), XMLToolParser)


def test_observation_tokens_continue_the_chat_template(tiny_tokenizer):
    """policy turn (ending in eos) + observation tokens == the template's rendering of the same chat, so the
    learner sees what a chat-formatted transcript would look like, without re-tokenizing earlier turns."""
    tok = tiny_tokenizer
    tpl = ObservationTemplate(tok)
    prompt = tok.apply_chat_template([{"role": "user", "content": "Do it."}], tokenize=False, add_generation_prompt=True)
    turn = "<bash>ls</bash>" + tok.eos_token
    ids = tok.encode(prompt, add_special_tokens=False) + tok.encode(turn, add_special_tokens=False) \
        + tpl.encode("<output>\nx\n</output>", max_tokens=100)
    expected = tok.apply_chat_template([{"role": "user", "content": "Do it."},
                                        {"role": "assistant", "content": "<bash>ls</bash>"},
                                        {"role": "user", "content": "<output>\nx\n</output>"}],
                                       tokenize=False, add_generation_prompt=True)
    assert tok.decode(ids) == expected


def test_long_observations_keep_head_and_tail(tiny_tokenizer):
    tpl = ObservationTemplate(tiny_tokenizer)
    ids = tpl.encode("start " + "x" * 2000 + " end", max_tokens=40)
    text = tiny_tokenizer.decode(ids)
    assert "start" in text and "end" in text and "[...]" in text and len(ids) < 80
