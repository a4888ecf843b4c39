"""The engine shared by the LLM stages: cache lookup, batched requests, JSON repair and retry, accounting.

A stage hands :meth:`LLMRun.run_stage` its prompt, one :class:`Job` per subject (an item, a user,
a pair) and a check that turns parsed JSON into the stage's result. Answers already in the
:class:`~recbole_hnlm.llm.store.AnswerStore` are read back; the rest are sent in chunks, each
answer committed as soon as it is parsed. An answer that is not valid JSON is repaired
(:func:`~recbole_hnlm.llm.answers.parse_json_answer`) or sent back once more (``llm_json_retries``)
with the ``json_repair`` prompt; what still fails is stored as failed and listed in the summary.
"""
import logging
import os
import time
from dataclasses import dataclass

from tqdm import tqdm

from recbole_hnlm.features import folder_lock
from recbole_hnlm.files import atomic_write_json
from recbole_hnlm.llm.answers import AnswerError, parse_json_answer
from recbole_hnlm.llm.backends import BackendError, ChatRequest, build_chat_backend, chat_model_id
from recbole_hnlm.llm.store import AnswerStore, input_hash
from recbole_hnlm.llm.templates import load_prompt
from recbole_hnlm.llm.usage import StageStats, chat_price, cost, estimate_tokens

MAX_LISTED_FAILURES = 20


class TooFewAnswers(BackendError):
    """A stage ended with fewer valid answers than ``llm_min_answered``: the run stops before anything is exported."""


@dataclass
class Job:
    subject: str  # item token, user token, or "user<TAB>item"
    values: dict  # the prompt's fields


def _group_same_input(todo):
    """``[(subjects, messages, hash)]``: one entry per distinct input, with every subject that has it."""
    groups = {}
    for subject, msgs, h in todo:
        if h in groups:
            groups[h][0].append(subject)
        else:
            groups[h] = ([subject], msgs, h)
    return list(groups.values())


class LLMRun:
    """State of one run of the offline module: config, output folder, store, backend, statistics.

    ``backend`` may be given (tests, notebooks); otherwise it is built from the config on first use,
    so a dry run or a run with everything cached never loads a model or opens a connection.
    """

    def __init__(self, config, out_dir, backend=None, dry_run=None):
        self.config = config
        self.out_dir = out_dir
        os.makedirs(out_dir, exist_ok=True)
        self.store = AnswerStore(os.path.join(out_dir, "llm_cache.sqlite"))
        self.lock_path = os.path.join(out_dir, "llm.lock")
        self._backend = backend
        self.model_id = backend.model_id if backend is not None else chat_model_id(config)
        self.dry_run = bool(config["llm_dry_run"]) if dry_run is None else dry_run
        self.stats = {}
        self.exports = {}
        self.logger = logging.getLogger()
        self.prompt_dir = config["llm_prompt_dir"]
        self.repair_prompt = self.prompt("json_repair")

    def prompt(self, name):
        versions = self.config["llm_prompt_versions"]  # ~: the newest of each
        return load_prompt(name, versions.get(name) if versions else None, self.prompt_dir)

    @property
    def backend(self):
        if self._backend is None:
            self._backend = build_chat_backend(self.config)
        return self._backend

    def _params(self, prompt, max_new_tokens):
        """Generation settings that change the answer, hence part of the cache key."""
        local = self.model_id.startswith("local:")
        params = {
            "max_new_tokens": int(max_new_tokens),
            "temperature": 0.0 if local else float(self.config["llm_temperature"]),
            "prefill": prompt.prefill if local and self.config["llm_local_prefill"] else "",
        }
        penalty = float(self.config["llm_repetition_penalty"])
        if local and penalty != 1.0:  # only when set, so that earlier keys stay valid
            params["repetition_penalty"] = penalty
        return params

    def _chunk_size(self):
        if self.model_id.startswith("openai:"):
            return 4 * int(self.config["llm_concurrency"])
        return 4 * int(self.config["llm_batch_size"])

    def lock(self, what):
        """The output folder's lock: two runs on one folder take turns, and the second reads what the first stored."""
        return folder_lock(self.lock_path, what)

    def run_stage(self, stage, prompt, jobs, check, max_new_tokens, generate=True):
        """``{subject: result}`` for ``jobs``: read back from the store, and asked for when ``generate``.

        With ``generate=False`` nothing is sent and nothing is counted (a later stage reading an
        earlier one's answers). In a dry run the missing answers are counted and their tokens estimated.
        A stage that asks holds the output folder's lock, and raises :class:`TooFewAnswers` when
        fewer than ``llm_min_answered`` of its jobs end with a valid answer.
        """
        if not generate or self.dry_run:
            return self._run_stage(stage, prompt, jobs, check, max_new_tokens, generate)
        with self.lock(f"the {stage} answers of {self.out_dir}"):
            results = self._run_stage(stage, prompt, jobs, check, max_new_tokens, generate)
        self.check_answered(self.stats[stage])
        return results

    def check_answered(self, stats):
        """Stop when too few jobs have a valid answer: an export of mostly fallbacks is not the LLM's output."""
        if not stats.jobs:
            return
        ok = stats.cached - stats.cached_failed + stats.new_ok
        share, least = ok / stats.jobs, float(self.config["llm_min_answered"])
        if share >= least:
            return
        cause = f" (last transport error: {stats.last_error})" if stats.last_error else ""
        raise TooFewAnswers(
            f"{stats.stage}: {ok} of {stats.jobs} jobs have a valid answer ({share:.0%}), below "
            f"llm_min_answered={least:g}; {stats.unanswered} unanswered{cause}, "
            f"{stats.new_failed + stats.cached_failed} not valid after retries. The answers received are stored: "
            f"fix the endpoint or model and run the same command again, or lower llm_min_answered"
        )

    def _run_stage(self, stage, prompt, jobs, check, max_new_tokens, generate):
        params = self._params(prompt, max_new_tokens)
        prepared = []
        for job in jobs:
            msgs = prompt.messages(**job.values)
            prepared.append((job.subject, msgs, input_hash(msgs, params)))
        stored = self.store.get_many(stage, prompt.version, self.model_id, {h for _, _, h in prepared})
        results, todo = {}, []
        retry_failed = bool(self.config["llm_retry_failed"])
        stats = StageStats(stage, prompt.version, self.model_id, jobs=len(prepared)) if generate else None
        for subject, msgs, h in prepared:
            row = stored.get(h)
            if row and row["status"] == "ok":
                results[subject] = row["result"]
                if stats:
                    stats.cached += 1
            elif row and row["status"] == "failed" and not retry_failed:
                if stats:
                    stats.cached_failed += 1
                    stats.cached += 1
                    if len(stats.failures) < MAX_LISTED_FAILURES:
                        stats.failures.append({"subject": subject, "error": row["error"], "earlier_run": True})
            else:
                todo.append((subject, msgs, h))
        todo = _group_same_input(todo)  # identical inputs (e.g. two items with the same text) are asked once
        if not generate:
            return results
        self.stats[stage] = stats
        price = chat_price(self.config, self.model_id)
        if self.dry_run:
            stats.requests = len(todo)
            stats.est_prompt_tokens = sum(estimate_tokens(m) for _, m, _ in todo)
            stats.est_completion_tokens = len(todo) * int(max_new_tokens)
            stats.cost_usd = cost(stats.est_prompt_tokens, stats.est_completion_tokens, price)
            money = f", at most ~${stats.cost_usd:.4f}" if stats.cost_usd else (
                "" if price is not None else " (no price known for this model: set llm_price)")
            self.logger.info(
                f"[dry run] {stage}: {len(prepared)} jobs, {len(prepared) - len(todo)} cached, {len(todo)} calls, "
                f"~{stats.est_prompt_tokens} prompt + <= {stats.est_completion_tokens} completion tokens{money}"
            )
            return results
        if todo:
            n_todo = sum(len(t[0]) for t in todo)
            self.logger.info(f"{stage}: {n_todo} of {len(prepared)} to ask {self.model_id} ({prompt.version}), "
                             f"{len(todo)} distinct requests")
            bar = tqdm(total=n_todo, desc=stage, disable=not self.config["show_progress"], dynamic_ncols=True)
            start = time.perf_counter()
            chunk = self._chunk_size()
            for i in range(0, len(todo), chunk):
                self._process(stage, prompt, todo[i:i + chunk], check, params, stats, results, bar)
                stats.seconds = time.perf_counter() - start
                rate = stats.throughput().get("per_second", 0)
                bar.set_postfix(ok=stats.new_ok, failed=stats.new_failed, rate=f"{rate:.2f}/s")
                if not self.config["show_progress"]:
                    done = stats.new_ok + stats.new_failed + stats.unanswered
                    eta = (n_todo - done) / rate if rate else float("nan")
                    self.logger.info(f"{stage}: {done}/{n_todo} in {stats.seconds:.0f}s ({rate:.3f}/s, "
                                     f"{stats.completion_tokens / max(stats.seconds, 1e-9):.1f} tok/s), ~{eta:.0f}s left")
            bar.close()
        stats.cost_usd = cost(stats.prompt_tokens, stats.completion_tokens, price)
        self.logger.info(stats.line())
        return results

    def _process(self, stage, prompt, part, check, params, stats, results, bar):
        retries = int(self.config["llm_json_retries"])
        convo = [list(msgs) for _, msgs, _ in part]
        tokens = [[0, 0, 0, 0.0] for _ in part]  # prompt, completion, attempts, seconds
        pending = list(range(len(part)))
        for round_ in range(retries + 1):
            requests = [ChatRequest(convo[i], params["max_new_tokens"], params["prefill"]) for i in pending]
            again = []
            for j, res in self.backend.complete(requests):
                i = pending[j]
                subjects, _, h = part[i]
                subject = subjects[0]
                tk = tokens[i]
                tk[0] += res.prompt_tokens
                tk[1] += res.completion_tokens
                tk[2] += res.attempts
                tk[3] += res.seconds
                stats.requests += 1
                stats.prompt_tokens += res.prompt_tokens
                stats.completion_tokens += res.completion_tokens
                if res.error is not None:
                    stats.unanswered += len(subjects)
                    stats.last_error = res.error
                    self.logger.warning(f"{stage} {subject!r}: no answer ({res.error}); a rerun asks again")
                    bar.update(len(subjects))
                    continue
                try:
                    result = check(parse_json_answer(res.text))
                except AnswerError as e:
                    if round_ < retries:
                        convo[i] = convo[i] + [
                            {"role": "assistant", "content": res.text},
                            {"role": "user", "content": self.repair_prompt.user_text(error=str(e), schema=prompt.schema)},
                        ]
                        again.append(i)
                        continue
                    self.store.put(stage, prompt.version, self.model_id, h, subject, "failed", res.text,
                                   error=str(e), prompt_tokens=tk[0], completion_tokens=tk[1],
                                   attempts=tk[2], seconds=tk[3])
                    stats.new_failed += len(subjects)
                    if len(stats.failures) < MAX_LISTED_FAILURES:
                        stats.failures.append({"subject": subject, "error": str(e), "answer": (res.text or "")[:300]})
                    bar.update(len(subjects))
                    continue
                self.store.put(stage, prompt.version, self.model_id, h, subject, "ok", res.text, result=result,
                               prompt_tokens=tk[0], completion_tokens=tk[1], attempts=tk[2], seconds=tk[3])
                stats.new_ok += len(subjects)
                stats.repaired_by_retry += len(subjects) if round_ > 0 else 0
                for sub in subjects:
                    results[sub] = result
                bar.update(len(subjects))
            pending = again
            if not pending:
                break

    def summary(self):
        out = {
            "model": self.model_id,
            "dry_run": self.dry_run,
            "stages": {name: s.as_dict() for name, s in self.stats.items()},
            "exports": self.exports,
        }
        costs = [s.cost_usd for s in self.stats.values() if s.cost_usd is not None]
        costs += [e.get("cost_usd") for e in self.exports.values() if e.get("cost_usd") is not None]
        out["cost_usd"] = sum(costs) if costs else 0.0
        backend = self._backend
        if backend is not None and hasattr(backend, "retries"):
            out["transient_retries"] = backend.retries
        return out

    def write_summary(self):
        """Write ``llm_summary.json`` in the output folder and log one line per stage."""
        summary = self.summary()
        path = os.path.join(self.out_dir, "llm_summary.json")
        atomic_write_json(path, summary, indent=2, ensure_ascii=False)
        for s in self.stats.values():
            self.logger.info(("[dry run] " if self.dry_run else "") + s.line())
            if s.new_failed or s.cached_failed:
                self.logger.warning(
                    f"{s.stage}: {s.new_failed + s.cached_failed} answers were not valid after retries "
                    f"(first: {s.failures[0]['subject']!r}: {s.failures[0]['error']}); see {path}"
                )
        for name, e in self.exports.items():
            self.logger.info(f"export {name}: {e}")
        if summary["cost_usd"]:
            self.logger.info(f"estimated cost of this run: ${summary['cost_usd']:.4f}")
        self.logger.info(f"summary written to {path}")
        return summary
