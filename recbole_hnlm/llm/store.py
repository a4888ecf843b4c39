"""The persistent answer store that makes every LLM stage resumable (sqlite, one file per dataset).

A request is identified by ``(stage, prompt version, model, input hash)``; the input hash covers
the rendered messages and the generation settings, so a changed profile upstream, a new prompt
version or another model is new work, and everything else is read back instead of asked again.
Each answer is committed as soon as it is parsed: a killed run loses only the requests in flight.

Rows have ``status`` ``ok`` (a parsed result) or ``failed`` (still not valid after the retries;
kept so that a rerun does not pay for it again, unless ``llm_retry_failed`` is set). Transport
errors (timeouts, 5xx after all retries) are never stored: they are retried by the next run.
"""
import hashlib
import json
import os
import sqlite3
import time

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    stage TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    model TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    answer TEXT,
    result TEXT,
    error TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    attempts INTEGER,
    seconds REAL,
    created REAL,
    PRIMARY KEY (stage, prompt_version, model, input_hash)
)
"""


def input_hash(messages, params):
    """sha256 of the messages and generation settings of one request."""
    blob = json.dumps({"messages": messages, "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerStore:
    """``get`` / ``put`` of answers in ``path`` (created with its folder on first use)."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=60)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(SCHEMA)
        self.conn.commit()

    def get_many(self, stage, prompt_version, model, hashes):
        """``{input_hash: row dict}`` for the hashes already stored."""
        out = {}
        hashes = list(hashes)
        for start in range(0, len(hashes), 500):
            chunk = hashes[start:start + 500]
            rows = self.conn.execute(
                f"SELECT input_hash, status, result, error, answer FROM answers WHERE stage=? AND prompt_version=? "
                f"AND model=? AND input_hash IN ({','.join('?' * len(chunk))})",
                [stage, prompt_version, model, *chunk],
            ).fetchall()
            for h, status, result, error, answer in rows:
                out[h] = {"status": status, "result": json.loads(result) if result else None,
                          "error": error, "answer": answer}
        return out

    def put(self, stage, prompt_version, model, hash_, subject, status, answer, result=None, error=None,
            prompt_tokens=0, completion_tokens=0, attempts=1, seconds=0.0):
        self.conn.execute(
            "INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (stage, prompt_version, model, hash_, subject, status, answer,
             json.dumps(result, ensure_ascii=False) if result is not None else None, error,
             int(prompt_tokens), int(completion_tokens), int(attempts), float(seconds), time.time()),
        )
        self.conn.commit()

    def count(self, stage=None, status=None):
        sql, args = "SELECT COUNT(*) FROM answers WHERE 1=1", []
        if stage:
            sql, args = sql + " AND stage=?", args + [stage]
        if status:
            sql, args = sql + " AND status=?", args + [status]
        return self.conn.execute(sql, args).fetchone()[0]

    def samples(self, stage, model, subjects=None, limit=5):
        """Stored answers of ``stage`` by ``model`` as ``(subject, status, result or raw answer)``: those of
        ``subjects`` (in that order) or the first ``limit`` parsed ones by subject."""
        sql = "SELECT subject, status, result, answer FROM answers WHERE stage=? AND model=?"
        rows = self.conn.execute(sql + " ORDER BY created DESC", [stage, model]).fetchall()
        latest = {}
        for subject, status, result, answer in rows:  # newest answer of a subject first
            latest.setdefault(subject, (status, json.loads(result) if result else answer))
        if subjects is None:
            subjects = sorted((s for s, (st, _) in latest.items() if st == "ok"),
                              key=lambda s: (len(s), s))[:limit]
        return [(s, *latest[s]) for s in subjects if s in latest]

    def close(self):
        self.conn.close()
