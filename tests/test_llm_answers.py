"""JSON repair of LLM answers, the checks of each stage's output, and the prompt templates."""
import json

import pytest

from recbole_hnlm.llm.answers import AnswerError, check_negatives, check_profile, parse_json_answer
from recbole_hnlm.llm.templates import PromptError, available, load_prompt

GOOD = {"summarization": "A family animation.", "reasoning": "Genres say so."}


@pytest.mark.parametrize("text", [
    json.dumps(GOOD),
    "```json\n" + json.dumps(GOOD) + "\n```",
    "Sure! Here is the profile:\n" + json.dumps(GOOD) + "\nHope this helps.",
    '{"summarization": "A family animation.", "reasoning": "Genres say so.",}',
    '{\u201csummarization\u201d: \u201cA family animation.\u201d, \u201creasoning\u201d: \u201cGenres say so.\u201d}',
    '{"summarization": "A family animation.", "reasoning": "Genres say so.',  # cut off by max_tokens
    '{"summarization": "A family animation.", "reasoning": "Genres say so."}{"extra": 1}',
])
def test_repairs(text):
    assert check_profile(parse_json_answer(text)) == GOOD


def test_truncated_nested_and_braces_in_strings():
    text = '{"hard_negatives": [{"title": "Cars {2006}", "description": "talking cars"}, {"title": "Shrek'
    out = check_negatives(parse_json_answer(text), k=3)
    assert out == {"hard_negatives": [{"title": "Cars {2006}", "description": "talking cars"},
                                      {"title": "Shrek", "description": ""}]}


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("I cannot help with that.", "no JSON object"),
    ('{"summarization": "x", "reasoning": tru', "not valid JSON"),
])
def test_unrepairable(text, message):
    with pytest.raises(AnswerError, match=message):
        parse_json_answer(text)


def test_check_profile():
    assert check_profile({"Summarization": " a  b ", "Reasoning": ["x", "y"]}) == {"summarization": "a b", "reasoning": "x y"}
    assert check_profile([{"summary": "s"}]) == {"summarization": "s", "reasoning": ""}
    with pytest.raises(AnswerError, match='"summarization"'):
        check_profile({"reasoning": "only"})
    with pytest.raises(AnswerError, match="JSON object"):
        check_profile(["a", "b"])


def test_check_negatives():
    negs = {"hard_negatives": [{"title": "A", "description": "d"}, "B", {"title": "a"}, {"description": "no title"},
                               {"name": "C", "reason": "r"}]}
    assert check_negatives(negs, k=5)["hard_negatives"] == [
        {"title": "A", "description": "d"}, {"title": "B", "description": ""}, {"title": "C", "description": "r"}]
    assert len(check_negatives(negs, k=2)["hard_negatives"]) == 2
    assert check_negatives([{"title": "X"}], k=2) == {"hard_negatives": [{"title": "X", "description": ""}]}
    with pytest.raises(AnswerError, match="hard_negatives"):
        check_negatives({"items_list": 3}, k=2)
    with pytest.raises(AnswerError, match="no item"):
        check_negatives({"hard_negatives": [{"description": "x"}]}, k=2)


def test_shipped_prompts_render_with_system_role():
    names = available()
    for name in ("item_profile", "user_profile", "negatives_pair", "negatives_user", "negatives_item", "json_repair"):
        assert names[name] == [1]
    p = load_prompt("item_profile")
    assert p.version == "item_profile.v1" and p.fields() == {"title", "attributes", "reviews"}
    msgs = p.messages(title="Toy Story", attributes="- year: 1995", reviews="- (no reviews)")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "Toy Story" in msgs[1]["content"] and "$" not in msgs[1]["content"]
    assert json.loads(p.schema) == {"summarization": "<string>", "reasoning": "<string>"}
    assert p.prefill == '{"summarization": "'
    neg = load_prompt("negatives_pair").messages(k=3, user_profile="u", item_title="t", item_profile="p")
    assert "Describe 3 different" in neg[1]["content"]


def test_prompt_errors_name_the_file(tmp_path):
    p = load_prompt("item_profile")
    with pytest.raises(PromptError, match=r"item_profile\.v1\.txt.*\$reviews"):
        p.messages(title="x", attributes="y")
    bad = tmp_path / "item_profile.v7.txt"
    bad.write_text("# comment\nstray text\n[user]\nhi\n")
    with pytest.raises(PromptError, match=r"item_profile\.v7\.txt: line 2"):
        load_prompt("item_profile", prompt_dir=str(tmp_path))
    good = tmp_path / "item_profile.v9.txt"
    good.write_text("[user]\nDescribe $title\n")
    bad.unlink()
    newest = load_prompt("item_profile", prompt_dir=str(tmp_path))
    assert newest.version == "item_profile.v9" and newest.messages(title="x") == [{"role": "user", "content": "Describe x"}]
    assert load_prompt("item_profile", version=1, prompt_dir=str(tmp_path)).version == "item_profile.v1"
    with pytest.raises(PromptError, match="no prompt template"):
        load_prompt("item_profile", version=5)
