"""Versioned prompt templates: ``recbole_hnlm/llm/prompts/<name>.v<N>.txt``.

A template file holds sections, each opened by a line ``[system]``, ``[user]``, ``[schema]`` or
``[prefill]``; lines starting with ``#`` before the first section are comments. ``[system]`` goes
in the system role (the S_v, S_u, S_H of Eq. 2-4), ``[user]`` in the user role, ``[schema]`` is
the JSON shape of the answer (shown again when an answer has to be retried) and ``[prefill]``
starts the assistant's answer for local models, which keeps small models on the JSON track.
Fields are ``$name`` (``string.Template``); a missing field is an error naming the file.

The version (``<name>.v<N>``) is part of the cache key of every request, so editing a prompt means
adding ``<name>.v<N+1>.txt``: answers to the old one stay cached under the old version.
"""
import glob
import os
import re
import string

PROMPT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prompts")
SECTIONS = ("system", "user", "schema", "prefill")
_FILE_RE = re.compile(r"^(?P<name>[a-z0-9_]+)\.v(?P<version>\d+)\.txt$")


class PromptError(ValueError):
    """A prompt template that is missing or malformed; the message names the file and line."""


class Prompt:
    """One parsed template: ``version`` (e.g. ``item_profile.v1``) and its sections."""

    def __init__(self, path):
        self.path = path
        match = _FILE_RE.match(os.path.basename(path))
        if not match:
            raise PromptError(f"{path}: a prompt file must be named <name>.v<N>.txt")
        self.name = match["name"]
        self.version = f"{match['name']}.v{match['version']}"
        self.sections = {}
        current = None
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                stripped = line.strip()
                if stripped.startswith("[") and stripped.endswith("]") and stripped[1:-1] in SECTIONS:
                    current = stripped[1:-1]
                    if current in self.sections:
                        raise PromptError(f"{path}: line {lineno}: section [{current}] appears twice")
                    self.sections[current] = []
                elif current is None:
                    if stripped and not stripped.startswith("#"):
                        raise PromptError(
                            f"{path}: line {lineno}: text before the first section; expected one of "
                            + ", ".join(f"[{s}]" for s in SECTIONS)
                        )
                else:
                    self.sections[current].append(line)
        self.sections = {k: "".join(v).strip("\n") for k, v in self.sections.items()}
        if "user" not in self.sections:
            raise PromptError(f"{path}: the [user] section is missing")
        self._templates = {k: string.Template(v) for k, v in self.sections.items()}

    @property
    def schema(self):
        return self.sections.get("schema", "")

    @property
    def prefill(self):
        return self.sections.get("prefill", "")

    def fields(self):
        """Names of the ``$fields`` the template uses."""
        names = set()
        for tpl in self._templates.values():
            for m in tpl.pattern.finditer(tpl.template):
                name = m.group("named") or m.group("braced")
                if name:
                    names.add(name)
        return names

    def _render(self, section, values):
        try:
            return self._templates[section].substitute(values)
        except KeyError as e:
            raise PromptError(f"{self.path}: [{section}] uses the field ${e.args[0]}, which was not given") from None
        except ValueError as e:
            raise PromptError(f"{self.path}: [{section}]: {e}") from None

    def messages(self, **values):
        """Chat messages: the system prompt in the system role, then the user turn."""
        msgs = []
        if self.sections.get("system"):
            msgs.append({"role": "system", "content": self._render("system", values)})
        msgs.append({"role": "user", "content": self._render("user", values)})
        return msgs

    def user_text(self, **values):
        return self._render("user", values)


def available(prompt_dir=None):
    """``{name: [versions...]}`` of the template files in ``prompt_dir`` (default: the shipped ones)."""
    out = {}
    for path in glob.glob(os.path.join(prompt_dir or PROMPT_DIR, "*.txt")):
        m = _FILE_RE.match(os.path.basename(path))
        if m:
            out.setdefault(m["name"], []).append(int(m["version"]))
    return {k: sorted(v) for k, v in out.items()}


def load_prompt(name, version=None, prompt_dir=None):
    """The template ``name`` at ``version`` (an int, ``"v2"`` or None for the newest).

    ``prompt_dir`` is searched first, then the shipped folder, so a user can add a version of their own.
    """
    dirs = [d for d in (prompt_dir, PROMPT_DIR) if d]
    if version is None:
        best = None
        for d in dirs:
            versions = available(d).get(name)
            if versions and (best is None or versions[-1] > best[0]):
                best = (versions[-1], d)
        if best is None:
            raise PromptError(f"no prompt template named {name!r} in {dirs}")
        return Prompt(os.path.join(best[1], f"{name}.v{best[0]}.txt"))
    number = int(str(version).lstrip("v"))
    for d in dirs:
        path = os.path.join(d, f"{name}.v{number}.txt")
        if os.path.isfile(path):
            return Prompt(path)
    raise PromptError(f"no prompt template {name}.v{number}.txt in {dirs}")
