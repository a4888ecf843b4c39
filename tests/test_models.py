"""The HNLM models: backbone equivalence, gradients, and the collapse guard (README.md#the-trap-in-eq-6-9-and-the-guards)."""
import pytest
import torch

from recbole_hnlm.codes import first_occurrence
from recbole_hnlm.model.layers import info_nce_in_batch
from recbole_hnlm.quick_start import prepare, run_recbole_hnlm
from recbole_hnlm.utils import get_model
from tests.conftest import base_config

OFF = {"mix_alpha": 0.0, "align_weight": 0.0, "anchor_weight": 0.0, "neg_sampler": "rns"}


@pytest.mark.parametrize("backbone", ["BPR", "LightGCN", "NGCF", "SGL"])
def test_switched_off_hnlm_equals_its_backbone(data_root, backbone):
    name = "MF_HNLM" if backbone == "BPR" else f"{backbone}_HNLM"
    cfg = base_config(data_root, epochs=2)
    ref = run_recbole_hnlm(model=backbone, config_dict=cfg, saved=False)
    ours = run_recbole_hnlm(model=name, config_dict=dict(cfg, **OFF), saved=False)
    assert ours["best_valid_result"] == ref["best_valid_result"]
    assert ours["test_result"] == ref["test_result"]
    assert ref["test_result"]["ndcg@20"] > 0


def _model_and_batch(data_root, **overrides):
    config, _, train_data, _, _ = prepare("LightGCN_HNLM", config_dict=base_config(data_root, **overrides))
    model = get_model("LightGCN_HNLM")(config, train_data.dataset)
    batch = next(iter(train_data))
    return model, batch


def test_projector_is_trained_through_the_anchor_only_by_default(data_root):
    model, batch = _model_and_batch(data_root, mix_alpha=0.2, align_weight=0.1, anchor_weight=0.1)
    losses = model.calculate_loss(batch)
    assert len(losses) == 4  # bpr, reg, align, anchor: logged as separate parts
    # BPR and alignment alone must not move the projector in the guarded form...
    sum(losses[:3]).backward(retain_graph=True)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.projector.parameters())
    # ...the anchor loss does.
    losses[3].backward()
    assert all(p.grad.abs().sum() > 0 for p in model.projector.parameters())
    names = {n for group in model.named_parameters() for n in [group[0]]}
    assert any(n.startswith("projector.") for n in names)  # so RecBole's optimizer gets it


def test_distinct_anchor_takes_each_positive_item_once(data_root):
    model, batch = _model_and_batch(data_root, mix_alpha=0.2, align_weight=0.0, anchor_weight=0.1, anchor_distinct=True,
                                    anchor_max_items=0)  # every distinct item, no random bound
    user, pos, neg = batch["user_id"], batch["item_id"], batch["neg_item_id"]
    assert len(torch.unique(pos)) < len(pos)  # the demo batch repeats items
    with torch.no_grad():
        u_all, i_all = model.propagate()
        _, _, anchor = model.semantic_terms(user, pos, u_all[user], i_all[pos], i_all[neg])
        items = torch.unique(pos)  # sorted, as first_occurrence orders them
        text = model.projector(model.anchor_text.lookup(user[: len(items)], items))
        want = 0.1 * info_nce_in_batch(text, i_all[items], model.align_tau, model.align_norm_floor)
        model.anchor_distinct = False
        _, _, every_pair = model.semantic_terms(user, pos, u_all[user], i_all[pos], i_all[neg])
    assert torch.allclose(anchor, want) and not torch.allclose(anchor, every_pair)
    assert torch.equal(first_occurrence(torch.tensor([5, 3, 5, 1, 3])), torch.tensor([3, 1, 0]))


def test_literal_form_sends_bpr_gradient_into_projector(data_root):
    model, batch = _model_and_batch(data_root, mix_alpha=0.2, align_weight=0.1, hnlm_literal=True)
    bpr = model.calculate_loss(batch)[0]
    bpr.backward()
    assert all(p.grad.abs().sum() > 0 for p in model.projector.parameters())


def test_mixed_negative_norm_is_bounded(data_root):
    model, batch = _model_and_batch(data_root, mix_alpha=1.0, align_weight=0.0, anchor_weight=0.1)
    with torch.no_grad():
        model.projector.net[2].weight.mul_(1000.0)  # a projector that tries to blow the scale up
        user, pos, neg = batch["user_id"], batch["item_id"], batch["neg_item_id"]
        u_all, i_all = model.propagate()
        mixed, _, _ = model.semantic_terms(user, pos, u_all[user], i_all[pos], i_all[neg])
    assert torch.allclose(mixed.norm(dim=1), i_all[neg].norm(dim=1), rtol=1e-4)


def test_training_does_not_collapse(data_root):
    """The literal Eq. 6-9 collapse to popularity level; the guarded default must track LightGCN."""
    cfg = base_config(data_root, epochs=8, learning_rate=0.01, eval_step=8)
    plain = run_recbole_hnlm(model="LightGCN", config_dict=cfg, saved=False)["best_valid_result"]["ndcg@20"]
    semantic = dict(cfg, mix_alpha=0.1, align_weight=0.1)
    guarded = run_recbole_hnlm(model="LightGCN_HNLM", config_dict=dict(semantic, anchor_weight=0.1), saved=False)
    literal = run_recbole_hnlm(model="LightGCN_HNLM", config_dict=dict(semantic, hnlm_literal=True), saved=False)
    assert guarded["best_valid_result"]["ndcg@20"] >= 0.9 * plain
    # the trap is real: this is what the guard prevents
    assert literal["best_valid_result"]["ndcg@20"] < 0.5 * plain


def test_checkpoint_saves_reloads_and_resumes(data_root):
    """RecBole checkpoints (a pickled Config inside) load on torch >= 2.6 through the plugin trainer."""
    from recbole_hnlm.utils import get_trainer

    cfg = base_config(data_root, epochs=1, mix_alpha=0.2, align_weight=0.1, anchor_weight=0.1)
    first = run_recbole_hnlm(model="LightGCN_HNLM", config_dict=cfg, saved=True)
    path = first["saved_model_file"]
    config, _, train_data, valid_data, test_data = prepare("LightGCN_HNLM", config_dict=dict(cfg, epochs=2))
    model = get_model("LightGCN_HNLM")(config, train_data.dataset)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    again = trainer.evaluate(test_data, load_best_model=True, model_file=path)
    assert dict(again) == first["test_result"]
    trainer.resume_checkpoint(path)
    assert trainer.start_epoch == 1
    trainer.fit(train_data, valid_data, saved=False)  # trains epoch 1 only
    assert trainer.start_epoch == 1 and trainer.best_valid_score > 0


@pytest.mark.parametrize("name", ["MF_HNLM", "LightGCN_HNLM", "NGCF_HNLM", "SGL_HNLM"])
def test_per_layer_embeddings_pool_to_the_backbone_output(data_root, name):
    """Layer-wise samplers (MixGCF) see the same embeddings as the backbone's forward."""
    config, _, train_data, _, _ = prepare(name, config_dict=base_config(data_root, **OFF))
    model = get_model(name)(config, train_data.dataset).eval()
    with torch.no_grad():
        user_layers, item_layers, pool = model.propagate_layers()
        users, items = model.propagate()
    assert torch.allclose(pool(user_layers), users, atol=1e-6)
    assert torch.allclose(pool(item_layers), items, atol=1e-6)
