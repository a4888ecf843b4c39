"""The offline LLM module end to end on the demo dataset, with the real ``openai`` client against a
local fake server: stages, JSON repair and retry, recorded failures, export, resumption (also after
a SIGKILL), dry run, and LightGCN_HNLM training on the exported features."""
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, base_config
from fake_openai import FakeOpenAI, Reply, first_user_text, stage_of, user_text, valid_answer
from recbole_hnlm.data.atomic import AtomicFileError
from recbole_hnlm.features import FeatureSet
from recbole_hnlm.llm.cli import load, main
from recbole_hnlm.settings import SettingError

REPAIR_MARK = "Your answer could not be used"


def llm_config(data_root, server, **kw):
    cfg = base_config(
        data_root, llm_chat_backend="openai", llm_chat_model="gpt-4o-mini", llm_base_url=server.url,
        llm_timeout=5.0, llm_backoff_base=0.01, llm_backoff_max=0.05, llm_concurrency=8,
        llm_max_users=40, llm_granularity="item", llm_k=2,
    )
    cfg.update(kw)
    return cfg


def bucket(text, n):
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) % n  # deterministic in the request's input


def sometimes_broken(body):
    """Prose for 1 in 5 first answers (fixed by the stricter retry), garbage always for 1 in 9."""
    first = first_user_text(body)
    if bucket(first, 9) == 0:
        return Reply("I am sorry, I cannot produce that.")
    if bucket(first, 5) == 0 and REPAIR_MARK not in user_text(body):
        return Reply("Here you go: the item is great, summarization: nice")
    return Reply("```json\n" + valid_answer(body) + "\n```")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """One full run (all stages) on the demo set; yields (data_root, server, summary)."""
    data_root = tmp_path_factory.mktemp("llm") / "atomic_data"
    data_root.mkdir()
    with FakeOpenAI() as server:
        server.responder = sometimes_broken
        summary = main(["all", "--dataset=hnlm-demo"], config_dict=llm_config(data_root, server))
        yield data_root, server, summary


def first_round(server, stage):
    return [b for b in server.chat_requests(stage) if REPAIR_MARK not in user_text(b)]


def test_all_stages_answer_repair_and_record_failures(pipeline):
    data_root, server, summary = pipeline
    failed_rows = {}
    for stage, jobs in (("item_profiles", 480), ("user_profiles", 40), ("negatives", None)):
        s = summary["stages"][stage]
        first = [first_user_text(b) for b in first_round(server, stage)]
        assert len(first) == len(set(first))  # jobs with the same input are asked once
        always_bad = sum(bucket(t, 9) == 0 for t in first)
        fixed = sum(bucket(t, 9) != 0 and bucket(t, 5) == 0 for t in first)
        if jobs:
            assert s["jobs"] == jobs
        assert len(first) <= s["jobs"] and s["cached"] == 0
        assert s["new_failed"] >= always_bad > 0  # counted per job
        assert s["repaired_by_retry"] >= fixed > 0
        assert s["new_ok"] + s["new_failed"] == s["jobs"]
        assert s["requests"] == len(server.chat_requests(stage)) == len(first) + always_bad + fixed
        failed_rows[stage] = always_bad
        assert s["prompt_tokens"] > 0 and s["completion_tokens"] > 0 and s["cost_usd"] > 0
        assert s["failures"] and s["failures"][0]["error"] == "the answer holds no JSON object"
    # the retry shows the model its bad answer, then the stricter instruction with the schema
    retry = next(b for b in server.chat_requests("item_profiles") if REPAIR_MARK in user_text(b))
    assert [m["role"] for m in retry["messages"]] == ["system", "user", "assistant", "user"]
    assert '"summarization": "<string>"' in retry["messages"][-1]["content"]
    out = data_root / "hnlm-demo" / "hnlm"
    on_disk = json.loads((out / "llm_summary.json").read_text())
    assert on_disk["stages"]["item_profiles"]["new_failed"] == summary["stages"]["item_profiles"]["new_failed"]
    with sqlite3.connect(out / "llm_cache.sqlite") as db:
        rows = dict(db.execute("SELECT status, COUNT(*) FROM answers WHERE stage='item_profiles' GROUP BY status"))
    assert rows["failed"] == failed_rows["item_profiles"]


def test_show_prints_stored_answers_without_asking(pipeline, capsys):
    data_root, server, _ = pipeline
    out = data_root / "hnlm-demo" / "hnlm"
    with sqlite3.connect(out / "llm_cache.sqlite") as db:
        ok_item, result = db.execute("SELECT subject, result FROM answers WHERE stage='item_profiles' "
                                     "AND status='ok' ORDER BY subject LIMIT 1").fetchone()
        bad_item = db.execute("SELECT subject FROM answers WHERE stage='item_profiles' AND status='failed'").fetchone()[0]
    asked = len(server.chat_requests())
    _, ctx = load("hnlm-demo", config_dict=llm_config(data_root, server))
    main(["show", "--dataset=hnlm-demo", "--subjects", ok_item, bad_item], config_dict=llm_config(data_root, server))
    text = capsys.readouterr().out
    assert len(server.chat_requests()) == asked  # nothing asked
    assert f"**item {ok_item} ({ctx.title(ok_item)})**: {json.dumps(json.loads(result), ensure_ascii=False)}" in text
    assert f"**item {bad_item} ({ctx.title(bad_item)})**: (failed) I am sorry" in text
    main(["show", "--dataset=hnlm-demo", "--n=3"], config_dict=llm_config(data_root, server))
    text = capsys.readouterr().out
    assert text.count("\n* **item ") == 6 and text.count("\n* **user ") == 3  # profiles + item negatives


def test_user_profiles_use_item_profiles_of_the_history(pipeline):
    _, server, _ = pipeline
    prompts = [first_user_text(b) for b in first_round(server, "user_profiles")]
    assert prompts and all(p.startswith("Items the user interacted with") for p in prompts)
    assert sum("Profile " in p for p in prompts) == len(prompts)  # P_v of Eq. 2 appear in Eq. 3's input
    neg = [first_user_text(b) for b in first_round(server, "negatives")]
    assert sum("Item profile: Profile " in p for p in neg) > 0.8 * len(neg)


def test_exports_load_as_features(pipeline):
    data_root, server, summary = pipeline
    out = data_root / "hnlm-demo" / "hnlm"
    neg = FeatureSet(str(out / "llm-item"))
    failed = summary["stages"]["negatives"]["new_failed"]
    assert neg.meta["granularity"] == "item" and neg.meta["k"] == 2 and neg.meta["dim"] == 384
    assert neg.meta["count"] == summary["stages"]["negatives"]["jobs"]
    assert neg.meta["source"]["producer"] == "llm" and neg.meta["source"]["chat_model"] == "openai:gpt-4o-mini"
    assert int(neg.extra("fallback").sum()) == failed == summary["exports"]["llm-item"]["missing"]
    emb = np.asarray(neg.embeddings)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=2), 1.0, rtol=1e-4)
    ok = ~neg.extra("fallback")
    assert not np.allclose(emb[ok, 0], emb[ok, 1])  # two different negatives per key
    prof = FeatureSet(str(out / "llm-profile"))
    assert prof.meta["granularity"] == "item" and prof.meta["k"] == 1 and prof.meta["count"] == 480
    exp = summary["exports"]["llm-profile"]
    assert exp["from_profile"] == summary["stages"]["item_profiles"]["new_ok"]
    assert exp["from_profile"] + exp["from_item_text"] == 480


def test_rerun_asks_nothing_again(pipeline):
    data_root, server, summary = pipeline
    before = len(server.requests)
    again = main(["all", "--dataset=hnlm-demo"], config_dict=llm_config(data_root, server))
    assert len(server.requests) == before
    for stage, s in again["stages"].items():
        assert s["requests"] == 0 and s["cached"] == s["jobs"] == summary["stages"][stage]["jobs"]
        assert s["cached_failed"] == summary["stages"][stage]["new_failed"]
    assert {e["status"] for e in again["exports"].values()} == {"up to date"}
    # asking again for the failed ones is a switch, and costs exactly those requests
    with sqlite3.connect(data_root / "hnlm-demo" / "hnlm" / "llm_cache.sqlite") as db:
        failed = db.execute("SELECT COUNT(*) FROM answers WHERE stage='negatives' AND status='failed'").fetchone()[0]
    assert 0 < failed <= summary["stages"]["negatives"]["new_failed"]
    third = main(["negatives", "--dataset=hnlm-demo", "--llm_retry_failed=True"],
                 config_dict=llm_config(data_root, server))
    assert third["stages"]["negatives"]["requests"] == 2 * failed
    assert len(server.requests) == before + 2 * failed


def test_lightgcn_hnlm_trains_on_the_export(pipeline):
    """The model reads the exported sets themselves (Eq. 5: the mean of a key's first n_hard negatives) and trains."""
    import torch

    from recbole_hnlm.quick_start import prepare, run_recbole_hnlm
    from recbole_hnlm.utils import get_model

    data_root, _, _ = pipeline
    cfg = base_config(data_root, hnlm_feature="llm-item", hnlm_anchor_feature="llm-profile",
                      mix_alpha=0.2, anchor_weight=0.1, align_weight=0.05, n_hard=2)
    config, _, train_data, _, _ = prepare("LightGCN_HNLM", "hnlm-demo", config_dict=cfg)
    model = get_model("LightGCN_HNLM")(config, train_data.dataset)
    ds = train_data.dataset
    users = torch.as_tensor(ds.inter_feat[ds.uid_field][:50]).long()
    items = torch.as_tensor(ds.inter_feat[ds.iid_field][:50]).long()
    exported = FeatureSet(str(data_root / "hnlm-demo" / "hnlm" / "llm-item"))
    row = {tok: r for r, tok in enumerate(exported.keys.tolist())}
    want = np.stack([np.asarray(exported.embeddings[row[t], :2], dtype=np.float32).mean(0)
                     for t in ds.id2token(ds.iid_field, items.numpy())])
    assert np.allclose(model.semantic.lookup(users, items).numpy(), want, atol=1e-3)
    assert model.anchor_text.directory.endswith("llm-profile")
    result = run_recbole_hnlm("LightGCN_HNLM", "hnlm-demo", saved=False, config_dict=cfg)
    assert len(result["train_loss"]) == 1 and np.isfinite(result["train_loss"][0])
    assert all(0 < v <= 1 for v in result["test_result"].values())


def test_dry_run_counts_and_prices_without_asking(tmp_path):
    data_root = tmp_path / "atomic_data"
    data_root.mkdir()
    with FakeOpenAI() as server:
        summary = main(["all", "--dataset=hnlm-demo", "--dry_run"],
                       config_dict=llm_config(data_root, server, llm_max_users=None))
        assert server.requests == []
    stages = summary["stages"]
    assert stages["item_profiles"]["jobs"] == 480 and stages["user_profiles"]["jobs"] == 600
    assert stages["negatives"]["jobs"] == 480
    # one call per distinct input (a few demo items share title and attributes)
    assert 450 < stages["item_profiles"]["requests"] <= 480 and stages["user_profiles"]["requests"] == 600
    s = stages["item_profiles"]
    assert s["est_completion_tokens"] == s["requests"] * 160 and s["est_prompt_tokens"] > s["requests"] * 50
    expected = (s["est_prompt_tokens"] * 0.15 + s["est_completion_tokens"] * 0.60) / 1e6
    assert s["cost_usd"] == pytest.approx(expected)
    assert summary["cost_usd"] > expected
    assert summary["exports"]["llm-item"]["texts_to_embed"] == 480 * 2
    out = data_root / "hnlm-demo" / "hnlm"
    assert not (out / "llm-item").exists() and not (out / "llm-profile").exists()


def test_price_override_and_unknown_model(tmp_path):
    data_root = tmp_path / "atomic_data"
    data_root.mkdir()
    with FakeOpenAI() as server:
        s = main(["item_profiles", "--dataset=hnlm-demo", "--dry_run", "--llm_price=[1.0,2.0]"],
                 config_dict=llm_config(data_root, server, llm_chat_model="my-model"))["stages"]["item_profiles"]
        assert s["cost_usd"] == pytest.approx((s["est_prompt_tokens"] + 2 * s["est_completion_tokens"]) / 1e6)
        s = main(["item_profiles", "--dataset=hnlm-demo", "--dry_run"],
                 config_dict=llm_config(data_root, server, llm_chat_model="my-model"))["stages"]["item_profiles"]
        assert s["cost_usd"] is None


def test_pair_granularity_and_training_only_history(tmp_path):
    """Pairs are training pairs, user histories hold training items only, reviews of test pairs are left out."""
    from recbole_hnlm.quick_start import prepare

    data_root = tmp_path / "atomic_data"
    data_root.mkdir()
    with FakeOpenAI() as server:
        cfg = llm_config(data_root, server, llm_granularity="pair", llm_max_items=30, llm_max_users=5,
                         llm_max_pairs=20, llm_embedder="minilm")
        config, ctx = load("hnlm-demo", config_dict=cfg)  # generates the demo set
        _, _, train, valid, test = prepare("LightGCN", "hnlm-demo", config_dict=base_config(data_root))
        held_out = set()
        for data in (valid, test):
            feat = data.dataset.inter_feat
            u = data.dataset.id2token("user_id", feat["user_id"].numpy())
            i = data.dataset.id2token("item_id", feat["item_id"].numpy())
            held_out |= set(zip(u, i))
        assert held_out and not held_out & ctx.train_pair_set
        assert all(set(items) <= {i for (u2, i) in ctx.train_pair_set if u2 == u}
                   for u, items in list(ctx.history.items())[:50])
        # histories are oldest first, by the .inter file's timestamps (RecBole did not load them here)
        from recbole_hnlm.data.atomic import read_atomic
        inter = read_atomic(str(data_root / "hnlm-demo" / "hnlm-demo.inter"))
        stamp = dict(zip(zip(inter["user_id"], inter["item_id"]), inter["timestamp"].astype(float)))
        assert ctx.time_ordered
        for u, items in list(ctx.history.items())[:50]:
            times = [stamp[(u, i)] for i in items]
            assert times == sorted(times)
        # a reviews sidecar: one review of a training pair, one of a held-out pair
        (tu, ti), (hu, hi) = sorted(ctx.train_pair_set)[0], sorted(held_out)[0]
        reviews = data_root / "hnlm-demo" / "hnlm-demo.reviews.jsonl"
        reviews.write_text(json.dumps({"user_id": tu, "item_id": ti, "text": "TRAIN-REVIEW loved it"}) + "\n"
                           + json.dumps({"user_id": hu, "item_id": hi, "text": "TEST-REVIEW leaked"}) + "\n")
        _, ctx = load("hnlm-demo", config_dict=cfg)
        assert "TRAIN-REVIEW" in ctx.item_reviews_block(ti) and "TRAIN-REVIEW" in ctx.user_reviews_block(tu)
        assert "TEST-REVIEW" not in ctx.item_reviews_block(hi) + ctx.user_reviews_block(hu)
        summary = main(["all", "--dataset=hnlm-demo"], config_dict=cfg)
    assert summary["stages"]["item_profiles"]["jobs"] == 30 and summary["stages"]["user_profiles"]["jobs"] == 5
    assert summary["stages"]["negatives"]["jobs"] == 20
    # every training pair is exported; the 20 asked for carry LLM negatives, the rest the retrieval fallback
    feats = FeatureSet(str(data_root / "hnlm-demo" / "hnlm" / "llm-pair"))
    assert feats.meta["granularity"] == "pair" and feats.meta["k"] == 2
    assert {tuple(k) for k in feats.keys} == ctx.train_pair_set and len(feats.keys) == len(ctx.train_pair_set)
    generated = {tuple(k) for k, fb in zip(feats.keys, feats.extra("fallback")) if not fb}
    assert generated == {tuple(k) for k in ctx.negative_keys("pair")} and len(generated) == 20
    assert summary["exports"]["llm-pair"]["outside_subset"] == len(ctx.train_pair_set) - 20
    # llm_fallback=skip exports the 20 generated pairs only
    with FakeOpenAI() as server:
        main(["export", "--dataset=hnlm-demo"], config_dict={**cfg, "llm_fallback": "skip", "llm_base_url": server.url})
    feats = FeatureSet(str(data_root / "hnlm-demo" / "hnlm" / "llm-pair"))
    assert feats.keys.shape == (20, 2) and {tuple(k) for k in feats.keys} == generated
    reviews.write_text('{"user_id": "1", "item_id": "2", "text": "ok"}\n{"user_id": "1", "text": "no item"}\n')
    with pytest.raises(AtomicFileError, match=r"reviews\.jsonl: line 2: field 'item_id' is missing"):
        load("hnlm-demo", config_dict=cfg)


def test_popular_subset_takes_the_most_interacted_items_and_users(tmp_path):
    """``llm_subset: popular`` picks the keys with the most training interactions; ``random`` is seeded."""
    from collections import Counter

    data_root = tmp_path / "atomic_data"
    data_root.mkdir()
    cfg = base_config(data_root, llm_max_items=25, llm_max_users=7, llm_subset="popular")
    _, ctx = load("hnlm-demo", config_dict=cfg)
    counts = Counter(i for _, i in ctx.train_pairs)
    items = ctx.profile_items()
    assert len(items) == 25 and len(set(items)) == 25
    assert min(counts[i] for i in items) >= max(counts.get(i, 0) for i in ctx.all_items if i not in set(items))
    users = ctx.profile_users()
    assert min(len(ctx.history[u]) for u in users) >= max(len(h) for u, h in ctx.history.items() if u not in users)
    assert set(ctx.negative_keys("item")) == set(items) & set(ctx.train_items)
    assert len(ctx.negative_keys("item", limited=False)) == len(ctx.train_items)
    _, rnd = load("hnlm-demo", config_dict={**cfg, "llm_subset": "random"})
    assert rnd.profile_items() != items and rnd.profile_items() == load("hnlm-demo", config_dict={
        **cfg, "llm_subset": "random"})[1].profile_items()
    with pytest.raises(SettingError, match="llm_subset='newest': choose one of random|popular"):
        load("hnlm-demo", config_dict={**cfg, "llm_subset": "newest"})  # refused before any work


def test_killed_run_resumes_without_repeating_finished_work(tmp_path):
    """SIGKILL the command line mid-stage; the rerun asks only for what was not stored."""
    data_root = tmp_path / "atomic_data"
    data_root.mkdir()
    with FakeOpenAI() as server:
        server.responder = lambda body: Reply(valid_answer(body), sleep=0.03)
        cfg = llm_config(data_root, server, llm_concurrency=2)
        load("hnlm-demo", config_dict=cfg)  # generate the demo set before timing anything
        cmd = [sys.executable, "-m", "recbole_hnlm.llm", "item_profiles", "--dataset=hnlm-demo"] + [
            f"--{k}={v}" for k, v in cfg.items() if k in (
                "data_path", "llm_chat_backend", "llm_chat_model", "llm_base_url", "llm_concurrency",
                "llm_backoff_base", "show_progress", "state")]
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 240
            while len(server.chat_requests()) < 60 and time.time() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
        sent_before = {first_user_text(b) for b in server.chat_requests()}
        db = data_root / "hnlm-demo" / "hnlm" / "llm_cache.sqlite"
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        assert 0 < stored <= len(sent_before) < 480
        n_before = len(server.requests)
        summary = main(["item_profiles", "--dataset=hnlm-demo"], config_dict=cfg)
        resent = [first_user_text(b) for b in server.chat_requests()[n_before:]]
    s = summary["stages"]["item_profiles"]
    assert s["requests"] == len(resent) == len(set(resent)) > 0
    assert s["cached"] >= stored  # identical items share one stored answer
    assert s["new_ok"] == s["jobs"] - s["cached"]
    # at most the requests in flight at the kill (concurrency 2) are asked twice
    assert len(set(resent) & sent_before) <= 2
    assert s["new_ok"] + s["cached"] == 480
