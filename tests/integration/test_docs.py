"""The docs that live in the repo stay true (issue 10 item 7). Needs no
running service: it reads files only, in well under a second.

docs/api.md against ingest/openapi.json (which tests/unit/test_openapi.c
holds to the route table of ingest/routes.c, so this one does not read the
route table again). The convention docs/api.md follows, in its section 6:

- every operation has a Markdown heading naming it as `METHOD /path` (two
  operations with one contract may share a heading: "GET /v1/events and
  GET /v1/"); no other heading names an operation;
- the text under that heading, up to the next heading, has a table with one
  row per status the operation answers, the status alone in the first cell
  (`| 202 | ... |`);
- the index table right under the "Endpoints" heading has one row per
  operation, `| `METHOD /path` | ... |`.

Checked: the headings name exactly the operations of openapi.json, once
each; each operation's status rows are exactly its `responses` there; the
index names exactly the same operations.

README.md, for a newcomer: it links only to files of the repo (Markdown
links, and paths written as code: `docs/api.md`, `-d @examples/data.json`),
never outside it (no ../shared/SPEC.md, no web page); it names every doc in
docs/ and every top-level folder; the make targets and SLUICE_ settings it
names exist. Every relative link in any tracked Markdown file resolves inside
the repo."""
import fnmatch
import json
import os
import re
import subprocess
import unittest

import harness

ROOT = harness.ROOT
API_MD = os.path.join(ROOT, "docs", "api.md")
OPENAPI = os.path.join(ROOT, "ingest", "openapi.json")
README = os.path.join(ROOT, "README.md")

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
OPERATION = re.compile(r"\b(" + "|".join(METHODS) + r")\s+(/[^\s`,;)|]*)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
STATUS_ROW = re.compile(r"^\|\s*`?([1-5][0-9][0-9])`?\s*\|")
INDEX_ROW = re.compile(r"^\|\s*`(" + "|".join(METHODS) + r")\s+(/[^`\s]*)`\s*\|")
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+)>")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# A path as a doc writes it: segments of word characters, dots and dashes,
# with at least one slash (a trailing one names a folder), or a file name.
PATH = re.compile(r"^(?:\./)?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.{}-]+)*/?$")
FILE_EXT = (".md", ".json", ".c", ".h", ".py", ".sh", ".sql", ".yml", ".yaml", ".txt", ".supp")

# Docs written on another branch that README.md already names. Each may be
# missing until that branch is merged (then it is checked like any file);
# remove it from here once merged.
PENDING = {}


def tracked_files():
    """Paths of the repo's files (git's index; the file tree without git)."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True, timeout=30,
                             check=True).stdout.decode()
        files = {f for f in out.split("\0") if f}
        if files:
            return files
    except (OSError, subprocess.SubprocessError):
        pass
    files = set()
    for top, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d != ".git"]
        for n in names:
            files.add(os.path.relpath(os.path.join(top, n), ROOT))
    return files


FILES = tracked_files()
FOLDERS = set()  # every folder holding a file of the repo, at any depth
for _f in FILES:
    _d = os.path.dirname(_f)
    while _d and _d not in FOLDERS:
        FOLDERS.add(_d)
        _d = os.path.dirname(_d)


def generated(path):
    """A path under a folder the build or `make run` creates (/build/, /.run/
    in .gitignore): it exists only on a machine that ran them."""
    first = path.split("/", 1)[0]
    with open(os.path.join(ROOT, ".gitignore")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("/") and line.endswith("/") and fnmatch.fnmatch(first, line[1:-1]):
                return True
    return False


def in_repo(path):
    path = os.path.normpath(path)
    return path in FILES or path in FOLDERS


def lines_outside_code(text):
    """(line number, line) of the lines not inside a fenced code block."""
    fenced = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield n, line


def code_block_lines(text):
    fenced = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            yield n, line


# ------------------------------------------------------------------ api.md

AUTH_STATUSES = {"401", "403", "429"}


def openapi_operations():
    with open(OPENAPI) as f:
        doc = json.load(f)
    ops = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method.upper() in METHODS:
                statuses = set(op.get("responses", {}))
                if op.get("security"):
                    # An operation that names a scope answers these too,
                    # documented once in docs/api.md section 2 ("Who may
                    # call what"), not in each table.
                    missing = AUTH_STATUSES - statuses
                    if missing:
                        raise AssertionError(f"{method.upper()} {path} names a scope but its responses "
                                             f"lack {sorted(missing)}")
                    statuses -= AUTH_STATUSES
                ops[(method.upper(), path)] = statuses
    return ops


def api_sections():
    """[(line, heading text, [operations], [status rows])] for every heading
    of docs/api.md, and the index rows [(line, operation)]."""
    with open(API_MD) as f:
        text = f.read()
    sections, index = [], []
    current, in_index = None, False
    for n, line in lines_outside_code(text):
        h = HEADING.match(line)
        if h:
            current = (n, h.group(2), [(m, p) for m, p in OPERATION.findall(h.group(2))], [])
            sections.append(current)
            in_index = "endpoints" in h.group(2).lower()
            continue
        if current is None:
            continue
        row = STATUS_ROW.match(line)
        if row:
            current[3].append(row.group(1))
        idx = INDEX_ROW.match(line)
        if idx and in_index:
            index.append((n, (idx.group(1), idx.group(2))))
    return sections, index


class ApiMdMatchesOpenapi(unittest.TestCase):
    """docs/api.md section 6 and ingest/openapi.json name the same
    operations with the same statuses."""

    @classmethod
    def setUpClass(cls):
        cls.ops = openapi_operations()
        cls.sections, cls.index = api_sections()
        cls.documented = {}
        for line, title, ops, statuses in cls.sections:
            for op in ops:
                cls.documented.setdefault(op, []).append((line, title, set(statuses)))

    def test_openapi_has_operations(self):
        self.assertGreater(len(self.ops), 10, f"{OPENAPI}: no operations found under paths")

    def test_every_operation_has_a_heading(self):
        missing = sorted(set(self.ops) - set(self.documented))
        self.assertFalse(missing, "operations of ingest/openapi.json without a heading "
                         "`#### METHOD /path` in docs/api.md: "
                         + ", ".join(f"{m} {p}" for m, p in missing))

    def test_every_heading_is_an_operation(self):
        unknown = sorted(set(self.documented) - set(self.ops))
        self.assertFalse(unknown, "docs/api.md has headings for operations ingest/openapi.json "
                         "(and so the route table) does not have: "
                         + "; ".join(f"{m} {p} (line {self.documented[(m, p)][0][0]})"
                                     for m, p in unknown))

    def test_each_operation_once(self):
        twice = {op: where for op, where in self.documented.items() if len(where) > 1}
        self.assertFalse(twice, "operations with more than one heading in docs/api.md: "
                         + "; ".join(f"{m} {p} at lines {[w[0] for w in where]}"
                                     for (m, p), where in sorted(twice.items())))

    def test_statuses_match(self):
        wrong = []
        for op in sorted(set(self.ops) & set(self.documented)):
            line, title, listed = self.documented[op][0]
            want = self.ops[op]
            if listed != want:
                wrong.append(f"{op[0]} {op[1]} (docs/api.md line {line}): openapi.json answers "
                             f"{sorted(want)}, the status rows say {sorted(listed)}"
                             + (f"; missing in api.md {sorted(want - listed)}" if want - listed else "")
                             + (f"; not in openapi.json {sorted(listed - want)}" if listed - want else ""))
        self.assertFalse(wrong, "status tables of docs/api.md against the responses of "
                         "ingest/openapi.json:\n  " + "\n  ".join(wrong))

    def test_index_lists_every_operation(self):
        listed = [op for _, op in self.index]
        self.assertTrue(listed, "docs/api.md: no index rows (| `METHOD /path` | ... |) under "
                        "the Endpoints heading")
        dup = sorted({op for op in listed if listed.count(op) > 1})
        self.assertFalse(dup, f"docs/api.md index lists twice: {dup}")
        self.assertEqual(sorted(set(listed)), sorted(self.ops),
                         "the index of docs/api.md section 6 must list exactly the operations of "
                         "ingest/openapi.json")


# ------------------------------------------------------------------ README

def readme_text():
    with open(README) as f:
        return f.read()


def path_mentions(text):
    """[(line, path)] of the paths a Markdown text writes as code: a code span
    that is a path, and in code spans with spaces and fenced blocks the words
    that start with a top-level entry of the repo (`-d @examples/data.json`)."""
    top = {p.split("/", 1)[0] for p in FILES}
    found = []

    def words(n, s):
        for w in re.split(r"[\s'\"=(),;|]+", s):
            w = w.lstrip("@<").rstrip(".:>")
            if "/" in w and PATH.match(w) and w.split("/", 1)[0] in top:
                found.append((n, w))

    for n, line in lines_outside_code(text):
        for span in CODE_SPAN.findall(line):
            span = span.strip()
            first = span[2:] if span.startswith("./") else span
            first = first.split("/", 1)[0]
            # `docs/x.md`, `ingest/`, `../shared/SPEC.md`, `.run/env`; not
            # `application/json`, which is no path.
            if PATH.match(span) and ((first in top and "/" in span) or span.endswith(FILE_EXT)
                                     or first == ".." or generated(first)):
                found.append((n, span))
            else:
                words(n, span)
    for n, line in code_block_lines(text):
        words(n, line)
    return found


class ReadmeLinksInRepo(unittest.TestCase):
    def test_links_are_repo_files(self):
        bad = []
        text = readme_text()
        for n, line in lines_outside_code(text):
            for target in LINK.findall(line) + AUTOLINK.findall(line):
                path = target.split("#", 1)[0]
                if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
                    bad.append(f"line {n}: {target} is outside the repo (link a doc of the repo)")
                elif path and (path.startswith("/") or os.path.normpath(path).startswith("..")):
                    bad.append(f"line {n}: {target} leaves the repo (a clone does not have it)")
                elif path and not in_repo(path) and path not in PENDING:
                    bad.append(f"line {n}: {target} is no file of the repo")
        self.assertFalse(bad, "README.md links:\n  " + "\n  ".join(bad))

    def test_paths_are_repo_files(self):
        bad = []
        for n, path in path_mentions(readme_text()):
            clean = path[2:] if path.startswith("./") else path
            if clean.startswith("..") or clean.startswith("/"):
                bad.append(f"line {n}: `{path}` is outside the repo")
            elif generated(clean) or in_repo(clean) or clean in PENDING:
                continue
            else:
                bad.append(f"line {n}: `{path}` is no file or folder of the repo")
        self.assertFalse(bad, "paths README.md names:\n  " + "\n  ".join(bad))

    def test_names_every_doc_and_folder(self):
        named = {p.rstrip("/") for _, p in path_mentions(readme_text())}
        text = readme_text()
        named |= {t.split("#", 1)[0].rstrip("/") for _, line in lines_outside_code(text)
                  for t in LINK.findall(line)}
        wanted = {f for f in FILES if f.startswith("docs/") and f.endswith(".md")}
        wanted |= {f.split("/", 1)[0] for f in FILES if "/" in f and not f.startswith(".")}
        wanted |= set(PENDING)
        missing = sorted(wanted - named)
        self.assertFalse(missing, "README.md must name (as `path` or a link) every doc in docs/ "
                         f"and every top-level folder; missing: {missing}")

    def test_make_targets_exist(self):
        with open(os.path.join(ROOT, "Makefile")) as f:
            targets = set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", f.read(), re.M))
        named = set(re.findall(r"\bmake\s+([a-z][\w-]*)", readme_text()))
        self.assertTrue(named, "README.md names no make target")
        self.assertFalse(named - targets, f"README.md names make targets the Makefile does not "
                         f"have: {sorted(named - targets)} (it has {sorted(targets)})")

    def test_settings_exist(self):
        names = set(re.findall(r"\bSLUICE_[A-Z0-9_]+", readme_text()))
        code = ""
        for f in FILES:
            if f.endswith((".c", ".h", ".sh", ".py")) and not f.startswith("tests/"):
                with open(os.path.join(ROOT, f), errors="replace") as fh:
                    code += fh.read()
        unknown = sorted(n for n in names if n not in code)
        self.assertFalse(unknown, f"README.md names settings no program reads: {unknown}")


class MarkdownLinksResolve(unittest.TestCase):
    def test_relative_links_resolve(self):
        bad = []
        for doc in sorted(f for f in FILES if f.endswith(".md")):
            with open(os.path.join(ROOT, doc)) as fh:
                text = fh.read()
            for n, line in lines_outside_code(text):
                for target in LINK.findall(line):
                    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                        continue
                    path = os.path.normpath(os.path.join(os.path.dirname(doc),
                                                         target.split("#", 1)[0]))
                    if path.startswith("..") or os.path.isabs(path):
                        bad.append(f"{doc}:{n}: {target} leaves the repo")
                    elif not in_repo(path) and path not in PENDING:
                        bad.append(f"{doc}:{n}: {target} is no file of the repo")
        self.assertFalse(bad, "Markdown links that do not resolve:\n  " + "\n  ".join(bad))


if __name__ == "__main__":
    unittest.main()
