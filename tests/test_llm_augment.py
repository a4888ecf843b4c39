"""The LLMRec augmentation stage with the real ``openai`` client against the local fake server:
candidates, answer checks, the exported triples, resumption, and LightGCN_LLMRec training on them."""
import hashlib
import json

import numpy as np
import pytest

from conftest import base_config
from fake_openai import FakeOpenAI, Reply, first_user_text, valid_answer
from test_llm_pipeline import llm_config
from recbole_hnlm.llm.answers import AnswerError, check_choice
from recbole_hnlm.llm.augment import candidates
from recbole_hnlm.llm.cli import load, main
from recbole_hnlm.model.augmented import HEADER
from recbole_hnlm.quick_start import run_recbole_hnlm


def test_check_choice_accepts_two_different_numbers_in_range():
    assert check_choice({"Liked": "3", "disliked": 1}, 5) == {"liked": 3, "disliked": 1}
    for bad, msg in [({"liked": 2, "disliked": 2}, "must be different"), ({"liked": 0, "disliked": 2}, "between 1 and 5"),
                     ({"liked": 6, "disliked": 2}, "between 1 and 5"), ({"liked": "two", "disliked": 1}, "candidate number"),
                     ({"disliked": 1}, '"liked"'), ([1, 2], "JSON object"), ({"liked": True, "disliked": 2}, "candidate number")]:
        with pytest.raises(AnswerError, match=msg):
            check_choice(bad, 5)


def aug_config(data_root, server):
    return llm_config(data_root, server, llm_max_users=30, llm_augment_candidates=6)


def out_of_range(body):
    return int(hashlib.sha1(first_user_text(body).encode()).hexdigest()[:8], 16) % 7 == 0


def answers(body):
    """Valid picks, except an out-of-range number for 1 in 7 users, even after the stricter retry."""
    return Reply(json.dumps({"liked": 9, "disliked": 1}) if out_of_range(body) else valid_answer(body))


@pytest.fixture(scope="module")
def augmented(tmp_path_factory):
    data_root = tmp_path_factory.mktemp("aug") / "atomic_data"
    data_root.mkdir()
    with FakeOpenAI() as server:
        server.responder = answers
        summary = main(["llmrec_augment", "--dataset=hnlm-demo"], config_dict=aug_config(data_root, server))
        yield data_root, server, summary


def read_rows(data_root):
    lines = (data_root / "hnlm-demo" / "hnlm" / "llmrec-aug" / "triples.tsv").read_text(encoding="utf-8").splitlines()
    assert tuple(lines[0].split("\t")) == HEADER
    return [line.split("\t") for line in lines[1:]]


def test_triples_are_the_llms_picks_among_unseen_candidates(augmented):
    data_root, server, summary = augmented
    config, ctx = load("hnlm-demo", config_dict=aug_config(data_root, server))
    users = ctx.profile_users()
    cands = candidates(ctx, users, 6)
    assert len(users) == 30 and all(len(c) == 6 for c in cands.values())
    for u, items in cands.items():
        assert not set(items) & set(ctx.history[u])  # never a training item
    rows = read_rows(data_root)
    stage = summary["stages"]["llmrec_augment"]
    firsts = {first_user_text(b): b for b in server.chat_requests("llmrec_augment")}
    n_bad = sum(out_of_range(b) for b in firsts.values())
    assert len(firsts) == 30 and n_bad > 0 and stage["new_failed"] == n_bad  # recorded, not fatal
    assert stage["jobs"] == 30 and len(rows) == 30 - n_bad == summary["exports"]["llmrec-aug"]["triples"]
    for u, liked, disliked in rows:
        body = next(b for text, b in firsts.items() if ctx.history_block(u, {}, 5, 30) in text)
        pick = json.loads(valid_answer(body))
        assert (liked, disliked) == (cands[u][pick["liked"] - 1], cands[u][pick["disliked"] - 1])


def test_rerun_asks_nothing_and_llmrec_trains_on_the_triples(augmented):
    data_root, server, summary = augmented
    before = len(server.requests)
    again = main(["llmrec_augment", "--dataset=hnlm-demo"], config_dict=aug_config(data_root, server))
    assert len(server.requests) == before and again["stages"]["llmrec_augment"]["requests"] == 0
    assert read_rows(data_root) and len(read_rows(data_root)) == again["exports"]["llmrec-aug"]["triples"]
    result = run_recbole_hnlm("LightGCN_LLMRec", "hnlm-demo", saved=False,
                              config_dict=base_config(data_root, llmrec_augment="llmrec-aug"))
    assert len(result["epoch_seconds"]) == 1 and np.isfinite(result["test_result"]["ndcg@20"])
