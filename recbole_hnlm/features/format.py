"""The on-disk format of a feature set (semantic embeddings keyed by user, item or pair tokens), and its writer.

On-disk format (version 1), one folder per feature set, by default
``atomic_data/<ds>/hnlm/<name>/``::

    meta.json         {"format": "recbole-hnlm-features", "version": 1, "granularity": "pair"|"user"|"item",
                       "dim": d, "k": k, "count": N, "dtype": "float32"|"float16",
                       "key_fields": [...], "source": {"producer": ..., "model": ..., ...}}
    keys.npy          N original tokens (user or item), or N x 2 (user token, item token) for pairs
    embeddings.npy    N x k x d: k hard-negative text embeddings per key (HNLM Eq. 5 averages them)
    extra/*.npy       optional per-row arrays aligned with keys (e.g. the retrieved negative items)

A set whose negatives are items stores them by reference: meta.json then holds
``"reference": {"set": "item-text", "field": "neg_items"}``, ``extra/neg_items.npy`` holds N x k item
tokens, ``embeddings.npy`` is absent, and the vectors are the rows of the item set ``item-text`` (a
sibling folder, or a path) gathered at lookup: O(items) floats instead of O(pairs x k).

Text atomic files would hold 200k x 384 floats as ~700 MB of text, hence a binary sidecar that
``numpy.load(mmap_mode="r")`` opens without reading it all. Keys are tokens, not RecBole's
internal ids, so a file survives re-filtering and re-splitting; the model maps them when it loads.

``meta.json`` is written last: a folder without it is an unfinished export. The
:class:`FeatureWriter` appends parts and merges them on :meth:`FeatureWriter.finalize`, so a long
export that is killed resumes where it stopped.
"""
import contextlib
import fcntl
import glob
import json
import logging
import os
import time

import numpy as np

from recbole_hnlm.files import atomic_write_json

FORMAT = "recbole-hnlm-features"
VERSION = 1
GRANULARITIES = ("pair", "user", "item")
KEY_FIELDS = {"pair": ["user_id", "item_id"], "user": ["user_id"], "item": ["item_id"]}


class FeatureFileError(ValueError):
    """A feature folder that is missing, truncated or does not match; the message names the file."""


def feature_dir(config, name=None):
    """Folder of the feature set ``name`` (default ``config['hnlm_feature']``) of the run's dataset.

    An absolute path or one containing a separator is taken as the folder itself.
    """
    name = name or config["hnlm_feature"]
    if os.path.isabs(name) or os.sep in name:
        return name
    return os.path.join(config["data_path"], "hnlm", name)


@contextlib.contextmanager
def folder_lock(path, what="this folder"):
    """Hold an exclusive lock on ``path`` (a lock file, created if absent) while the block runs.

    Other processes that ask for it wait; the kernel releases it when its holder dies, so a killed
    run never leaves a stale lock behind.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logging.getLogger().info(f"{path}: another process works on {what}; waiting for it")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _atomic_save(path, array):
    tmp = f"{path}.tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def _as_key_array(keys, granularity):
    arr = np.asarray(keys, dtype=str)
    want = 2 if granularity == "pair" else 1
    if want == 2 and (arr.ndim != 2 or arr.shape[1] != 2):
        raise ValueError(f"pair keys must be (user token, item token) rows, got shape {arr.shape}")
    if want == 1 and arr.ndim != 1:
        raise ValueError(f"{granularity} keys must be a flat list of tokens, got shape {arr.shape}")
    return arr


def _key_tuple(row):
    return tuple(row) if isinstance(row, np.ndarray) else row


class FeatureWriter:
    """Resumable writer of one feature folder.

    >>> w = FeatureWriter(path, "pair", dim=384, k=2, source={"producer": "llm", "model": "..."})
    >>> todo = [key for key in all_keys if key not in w.done]    # keys already written are skipped
    >>> w.add(keys_chunk, vectors_chunk)                          # vectors: n x k x d (or n x d when k = 1)
    >>> w.finalize()

    Each :meth:`add` is one part file written atomically, so a crash loses at most the chunk in
    hand. Reopening with a different granularity, dimension, k or source is an error, not a mix.
    """

    def __init__(self, directory, granularity, dim, k=1, source=None, dtype="float32", reference=None):
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
        self.directory = directory
        self.header = {
            "granularity": granularity, "dim": int(dim), "k": int(k),
            "dtype": dtype, "source": dict(source or {}),
        }
        if reference is not None:
            if set(reference) != {"set", "field"}:
                raise ValueError(f"reference must be {{'set': <item set>, 'field': <extra array>}}, got {reference!r}")
            self.header["reference"] = dict(reference)
        self.parts_dir = os.path.join(directory, "parts")
        os.makedirs(self.parts_dir, exist_ok=True)
        header_path = os.path.join(self.parts_dir, "header.json")
        if os.path.isfile(header_path):
            with open(header_path, encoding="utf-8") as f:
                old = json.load(f)
            if old != json.loads(json.dumps(self.header)):
                raise FeatureFileError(
                    f"{header_path}: an unfinished export with different settings is in the way "
                    f"(on disk {old}, asked {self.header}); remove {self.directory} or use another name"
                )
        else:
            atomic_write_json(header_path, self.header, indent=2, sort_keys=True)
        self.done = set()
        self._n_parts = 0
        for part in self._part_files():
            with np.load(part) as z:
                self.done.update(_key_tuple(r) for r in z["keys"])
            self._n_parts += 1

    def _part_files(self):
        return sorted(glob.glob(os.path.join(self.parts_dir, "part-*.npz")))

    def add(self, keys, vectors, extra=None):
        """Append rows: ``keys`` as in the format, ``vectors`` n x k x d (or n x d when k = 1).

        A set by reference takes ``vectors=None`` and its n x k item tokens in ``extra[reference field]``.
        """
        g, d, k = self.header["granularity"], self.header["dim"], self.header["k"]
        keys = _as_key_array(keys, g)
        arrays = {"keys": keys}
        reference = self.header.get("reference")
        if reference is None:
            vec = np.asarray(vectors, dtype=np.float32)
            if vec.ndim == 2 and k == 1:
                vec = vec[:, None, :]
            if vec.shape != (len(keys), k, d):
                raise ValueError(f"vectors must have shape ({len(keys)}, {k}, {d}), got {vec.shape}")
            if not np.isfinite(vec).all():
                raise ValueError("vectors hold NaN or inf")
            arrays["vectors"] = vec.astype(self.header["dtype"])
        else:
            if vectors is not None:
                raise ValueError(f"a set by reference to {reference['set']!r} stores no vectors")
            refs = np.asarray((extra or {}).get(reference["field"], np.zeros((0, 0))))
            if refs.shape != (len(keys), k):
                raise ValueError(f"extra[{reference['field']!r}] must have shape ({len(keys)}, {k}), got {refs.shape}")
        for name, value in (extra or {}).items():
            arrays[f"extra_{name}"] = np.asarray(value)
        # the pid keeps the part names of two writers of one folder apart
        path = os.path.join(self.parts_dir, f"part-{self._n_parts:06d}-{os.getpid()}.npz")
        tmp = path + ".tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        self._n_parts += 1
        self.done.update(_key_tuple(r) for r in keys)

    def finalize(self):
        """Merge the parts into ``keys.npy`` / ``embeddings.npy`` and write ``meta.json`` last."""
        parts = self._part_files()
        if not parts:
            raise FeatureFileError(f"{self.directory}: nothing was written, nothing to finalize")
        keys, vecs, extras = [], [], {}
        for part in parts:
            with np.load(part) as z:
                keys.append(z["keys"])
                if "vectors" in z.files:
                    vecs.append(z["vectors"])
                for name in z.files:
                    if name.startswith("extra_"):
                        extras.setdefault(name[6:], []).append(z[name])
        keys = np.concatenate(keys)
        flat = ["\t".join(r) for r in keys] if keys.ndim == 2 else list(keys)
        if len(set(flat)) != len(flat):
            raise FeatureFileError(f"{self.directory}: the parts hold duplicated keys")
        os.makedirs(os.path.join(self.directory, "extra"), exist_ok=True)
        for name, chunks in extras.items():
            _atomic_save(os.path.join(self.directory, "extra", f"{name}.npy"), np.concatenate(chunks))
        _atomic_save(os.path.join(self.directory, "keys.npy"), keys)
        if "reference" not in self.header:
            _atomic_save(os.path.join(self.directory, "embeddings.npy"), np.concatenate(vecs))
        meta = dict(self.header)
        meta.update({
            "format": FORMAT, "version": VERSION, "count": int(len(keys)),
            "key_fields": KEY_FIELDS[self.header["granularity"]],
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        atomic_write_json(os.path.join(self.directory, "meta.json"), meta, indent=2, sort_keys=True)
        for part in parts:
            os.remove(part)
        os.remove(os.path.join(self.parts_dir, "header.json"))
        os.rmdir(self.parts_dir)
        return meta


def write_features(directory, granularity, keys, vectors, source=None, dtype="float32", extra=None):
    """Write a whole feature folder at once (see :class:`FeatureWriter` for the resumable form)."""
    vec = np.asarray(vectors)
    k = 1 if vec.ndim == 2 else vec.shape[1]
    writer = FeatureWriter(directory, granularity, vec.shape[-1], k=k, source=source, dtype=dtype)
    writer.add(keys, vec, extra=extra)
    return writer.finalize()


def write_reference_features(directory, granularity, keys, item_tokens, reference, dim, source=None, extra=None):
    """Write a whole feature folder by reference: ``item_tokens`` (n x k) name rows of the item set
    ``reference["set"]`` (of dimension ``dim``), stored as ``extra/<reference["field"]>.npy``."""
    tokens = np.asarray(item_tokens)
    writer = FeatureWriter(directory, granularity, dim, k=tokens.shape[1], source=source, reference=reference)
    writer.add(keys, None, extra={**(extra or {}), reference["field"]: tokens})
    return writer.finalize()


class FeatureSet:
    """A feature folder opened and checked: ``meta``, ``keys`` and memory-mapped ``embeddings``."""

    def __init__(self, directory):
        self.directory = directory
        meta_path = os.path.join(directory, "meta.json")
        if not os.path.isdir(directory):
            raise FeatureFileError(f"{directory}: no such feature folder")
        if not os.path.isfile(meta_path):
            hint = " (an export was started but not finalized)" if os.path.isdir(os.path.join(directory, "parts")) else ""
            raise FeatureFileError(f"{meta_path}: missing{hint}")
        try:
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
        except json.JSONDecodeError as e:
            raise FeatureFileError(f"{meta_path}: not valid JSON: {e}") from e
        for field in ("format", "version", "granularity", "dim", "k", "count"):
            if field not in meta:
                raise FeatureFileError(f"{meta_path}: field '{field}' is missing")
        if meta["format"] != FORMAT or meta["version"] != VERSION:
            raise FeatureFileError(
                f"{meta_path}: format {meta['format']!r} version {meta['version']} is not {FORMAT!r} version {VERSION}"
            )
        if meta["granularity"] not in GRANULARITIES:
            raise FeatureFileError(f"{meta_path}: granularity {meta['granularity']!r} is not one of {GRANULARITIES}")
        self.meta = meta
        self.keys = self._load("keys.npy", mmap=False)
        n, k, d = meta["count"], meta["k"], meta["dim"]
        want_keys = (n, 2) if meta["granularity"] == "pair" else (n,)
        if self.keys.shape != want_keys:
            raise FeatureFileError(
                f"{os.path.join(directory, 'keys.npy')}: shape {self.keys.shape}, but meta.json says {want_keys}"
            )
        self.reference = self.ref_tokens = self.embeddings = None
        if "reference" in meta:
            self._open_reference(meta_path)
            return
        self.embeddings = self._load("embeddings.npy", mmap=True)
        if self.embeddings.shape != (n, k, d):
            raise FeatureFileError(
                f"{os.path.join(directory, 'embeddings.npy')}: shape {self.embeddings.shape}, "
                f"but meta.json says ({n}, {k}, {d})"
            )

    def _open_reference(self, meta_path):
        """The referenced item set (``self.reference``) and the n x k item tokens (``self.ref_tokens``)."""
        ref = self.meta["reference"]
        if not isinstance(ref, dict) or set(ref) != {"set", "field"}:
            raise FeatureFileError(f"{meta_path}: field 'reference' must be {{'set': ..., 'field': ...}}, got {ref!r}")
        name = ref["set"]
        where = name if os.path.isabs(name) or os.sep in name else os.path.join(os.path.dirname(self.directory), name)
        try:
            self.reference = FeatureSet(where)
        except FeatureFileError as e:
            raise FeatureFileError(f"{meta_path}: the referenced set {name!r} cannot be opened: {e}") from e
        got = self.reference.meta
        if got["granularity"] != "item" or got["k"] != 1 or got["dim"] != self.meta["dim"] or self.reference.reference:
            raise FeatureFileError(
                f"{meta_path}: the referenced set {where} must hold one {self.meta['dim']}-d vector per item by value "
                f"(it has granularity {got['granularity']!r}, k={got['k']}, dim={got['dim']})"
            )
        self.ref_tokens = self._load(os.path.join("extra", f"{ref['field']}.npy"), mmap=False)
        want = (self.meta["count"], self.meta["k"])
        if self.ref_tokens.shape != want:
            raise FeatureFileError(
                f"{os.path.join(self.directory, 'extra', ref['field'] + '.npy')}: shape {self.ref_tokens.shape}, "
                f"but meta.json says {want}"
            )

    def _load(self, fname, mmap):
        path = os.path.join(self.directory, fname)
        if not os.path.isfile(path):
            raise FeatureFileError(f"{path}: missing")
        try:
            return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise FeatureFileError(f"{path}: truncated or not a .npy array ({e})") from e

    def extra(self, name):
        return np.load(os.path.join(self.directory, "extra", f"{name}.npy"), allow_pickle=False)
