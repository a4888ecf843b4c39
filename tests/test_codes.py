import pytest
import torch

from recbole_hnlm import codes
from recbole_hnlm.codes import CodeSet


@pytest.mark.parametrize("bitmap", [True, False])
def test_code_set_membership_matches_a_python_set(monkeypatch, bitmap):
    if not bitmap:
        monkeypatch.setattr(codes, "BITMAP_MAX_CODES", 0)
    torch.manual_seed(0)
    size = 1003  # not a multiple of 8: the last byte is partly used
    members = torch.cat([torch.randint(size, (300,)), torch.tensor([0, size - 1, 7, 8])])
    found = CodeSet(members, size)
    assert (found.bits is not None) == bitmap
    assert len(found) == len(set(members.tolist()))
    query = torch.arange(size).reshape(17, 59)
    want = torch.tensor([q in set(members.tolist()) for q in query.reshape(-1).tolist()]).reshape(query.shape)
    assert torch.equal(found.contains(query), want)
    assert not CodeSet(torch.zeros(0, dtype=torch.long), size).contains(query).any()
