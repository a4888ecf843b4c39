"""LightGCN / NGCF split files (e.g. Gowalla, Yelp2018, Amazon-Book of the LightGCN paper).

``train.txt`` and ``test.txt`` in the input folder: one line per user, ``u i1 i2 ...`` (integer ids,
written as they are; ``user_list.txt`` / ``item_list.txt`` with the original ids are not needed).
A line with a user and no items is allowed. There are no timestamps or ratings: the timestamp is
the position of the item on the user's train line, continued on the test line; the rating is 1.

The split has no validation part. Choosing models on test would leak it, so a seeded random 10 %
(``--valid-ratio``, ``--seed``) of each user's training items becomes ``<ds>.valid.inter``
(see :mod:`.splits`); ``<ds>.train.inter`` + ``<ds>.valid.inter`` together are the published train set.
"""
import os

from .base import Source
from .errors import ConvertError
from .interactions import TEST, TRAIN


class LightGCNSource(Source):
    format_name = "lightgcn"
    description = "LightGCN split: train.txt + test.txt ('u i1 i2 ...' per line)"
    real_timestamps = False
    has_ratings = False
    presplit = True
    carve_valid = True
    default_dedup = "all"
    item_columns = ()
    split_description = "the published train and test files; a seeded random share of each user's train items is valid"

    def prepare(self):
        folder = self.inputs.input
        if not os.path.isdir(folder):
            raise ConvertError(f"lightgcn: --input must be the folder holding train.txt and test.txt, not {folder!r}")
        self.train = self.need_file(os.path.join(folder, "train.txt"), "train file")
        self.test = self.need_file(os.path.join(folder, "test.txt"), "test file")

    def input_paths(self):
        return [self.train, self.test]

    def read_interactions(self, buf):
        offsets = {}
        for path, split in ((self.train, TRAIN), (self.test, TEST)):
            for lineno, line in self.reader.lines(path, desc=os.path.basename(path)):
                if '"' in line or "\x00" in line:
                    self.reader.bad(path, lineno, "ids must not contain '\"' or NUL")
                    continue
                parts = line.split()
                user = parts[0]
                start = offsets.get(user, 0)
                for pos, item in enumerate(parts[1:], start):
                    buf.add(user, item, 1.0, float(pos), split=split)
                offsets[user] = start + len(parts) - 1
