"""Pairs (user, item), (item, item) kept as int64 codes ``a * n + b``, sorted for binary search and, where the
code space is small enough, also as a bitmap."""
import torch

# Largest code space also kept as a bitmap (64 MiB): a bitmap lookup of a batch's B x M candidates is several
# times faster than a binary search over the sorted codes (benchmarks/probes/batch_cost.py).
BITMAP_MAX_CODES = 1 << 29


def first_occurrence(index, return_inverse=False):
    """Positions of the first occurrence of each distinct value of a 1-d tensor, in sorted value order; with
    ``return_inverse``, also each element's index into those distinct values (as ``torch.unique`` gives it)."""
    uniq, inverse = torch.unique(index, return_inverse=True)
    pos = torch.arange(len(index), device=index.device)
    first = torch.full((len(uniq),), len(index), dtype=torch.long, device=index.device).scatter_reduce(
        0, inverse, pos, reduce="amin")
    return (first, inverse) if return_inverse else first


def find_codes(sorted_codes, codes):
    """(found, position) of each of ``codes`` in the sorted 1-d tensor ``sorted_codes``; where a code is absent,
    ``found`` is False and its position is meaningless (but a valid index)."""
    if not len(sorted_codes):
        return torch.zeros_like(codes, dtype=torch.bool), torch.zeros_like(codes)
    pos = torch.searchsorted(sorted_codes, codes).clamp(max=len(sorted_codes) - 1)
    return sorted_codes[pos] == codes, pos


class CodeSet:
    """A set of codes in ``0 .. size - 1`` with a membership test (``contains``)."""

    def __init__(self, codes, size):
        self.codes = torch.unique(torch.as_tensor(codes, dtype=torch.int64))  # sorted
        self.size = int(size)
        self.bits = None
        if self.size <= BITMAP_MAX_CODES:
            self.bits = torch.zeros((self.size + 7) // 8, dtype=torch.uint8)
            bit = torch.ones(len(self.codes), dtype=torch.uint8) << (self.codes & 7).to(torch.uint8)
            self.bits.index_put_((self.codes >> 3,), bit, accumulate=True)  # distinct bits of a byte: sum = or

    def to(self, device):
        self.codes = self.codes.to(device)
        if self.bits is not None:
            self.bits = self.bits.to(device)
        return self

    def __len__(self):
        return len(self.codes)

    def contains(self, codes):
        """Boolean tensor shaped like ``codes``: which of them are in the set."""
        if self.bits is None:
            return find_codes(self.codes, codes)[0]
        return ((self.bits[codes >> 3] >> (codes & 7).to(torch.uint8)) & 1).bool()
