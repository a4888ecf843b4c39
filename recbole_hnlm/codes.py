"""Pairs (user, item), (item, item) kept as sorted int64 codes ``a * n + b`` and looked up by binary search."""
import torch


def find_codes(sorted_codes, codes):
    """(found, position) of each of ``codes`` in the sorted 1-d tensor ``sorted_codes``; where a code is absent,
    ``found`` is False and its position is meaningless (but a valid index)."""
    if not len(sorted_codes):
        return torch.zeros_like(codes, dtype=torch.bool), torch.zeros_like(codes)
    pos = torch.searchsorted(sorted_codes, codes).clamp(max=len(sorted_codes) - 1)
    return sorted_codes[pos] == codes, pos
