"""What the README claims about the command line, the error codes and the repository, read out of it.

A field engineer types what the README shows, so each claim is checked against the code itself rather
than a copy of it: ``posterm`` command lines against the parser ``firmware.cli.build_parser`` builds (a
synopsis such as ``posterm keys show|inject --data-dir D`` structurally, a concrete line in a ``sh``
block or a systemd unit parsed as ``posterm`` would parse it), ``a.b`` codes against the source, and
paths against the tree. Each function returns the problems it found, as lines to read.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

_FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
PROSE = _FENCE.sub("", README)
# inline code, one space for any run of whitespace (a span may wrap), a table's \| as |
SPANS = [" ".join(s.replace("\\|", "|").split()) for s in re.findall(r"`([^`]+)`", PROSE)]
SOURCE_DIRS = ("firmware", "hal", "crypto", "storage")


def sh_lines(text: str = README) -> list[str]:
    """The commands of the ``sh`` blocks, continuation lines joined."""
    blocks = [body for lang, body in _FENCE.findall(text) if lang == "sh"]
    return [line for body in blocks for line in body.replace("\\\n", " ").splitlines() if line.strip()]


# -- the command line ------------------------------------------------------------------------------
def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {name: a for a in parser._actions for name in a.option_strings}


def command_paths(parser: argparse.ArgumentParser) -> list[str]:
    """Every command path the parser has, ``posterm keys show`` and the like (not an argument's choices)."""
    out = []

    def walk(p, path):
        for name, sub in _subcommands(p).items():
            out.append(f"{path} {name}")
            walk(sub, f"{path} {name}")

    walk(parser, "posterm")
    return out


def every_option(parser: argparse.ArgumentParser) -> set[str]:
    """Every option any ``posterm`` command takes."""
    return set(_options(parser)).union(*(every_option(sub) for sub in _subcommands(parser).values()))


class CommandNode:
    """Where a command line has got to: a (sub)parser and how many of its positionals are taken."""

    def __init__(self, parser, name: str, taken: int = 0):
        self.parser, self.name, self.taken = parser, name, taken

    def step(self, word: str) -> tuple[CommandNode, bool]:
        """The node after ``word``, and whether the word named a command (a sub-command or an argument's
        choice) rather than filling a free argument; ValueError if this command takes no such word."""
        if word in (subs := _subcommands(self.parser)):
            return CommandNode(subs[word], f"{self.name} {word}"), True
        free = _positionals(self.parser)[self.taken:]
        if not free:
            raise ValueError(f"`{self.name}` has no sub-command or argument `{word}`")
        after = CommandNode(self.parser, self.name, self.taken + 1)
        if free[0].choices is None:
            return after, False
        if word not in free[0].choices:
            raise ValueError(f"`{self.name}` takes {sorted(free[0].choices)} there, not `{word}`")
        return after, True


def _is_option(word: str) -> bool:
    return bool(re.match(r"-[-a-z]", word))


def resolve(text: str, parser: argparse.ArgumentParser) -> tuple[list[CommandNode], list[str]]:
    """The commands a synopsis names (``a|b|c``: each one) and the words after them, from the first option
    on; ValueError if a word before the first option names no command."""
    words = [w.strip("[]") for w in text.split()[1:]]
    words = [w for w in words if w]
    cut = next((i for i, w in enumerate(words) if _is_option(w)), len(words))
    first, *others = " ".join(words[:cut]).split("|")
    node, level = CommandNode(parser, "posterm"), None
    for word in first.split():
        before = node
        node, named = node.step(word)
        if named:
            level = before  # the alternatives (a|b|c) are at the level of the last command word
    nodes = [node]
    for alternative in others:
        if level is None:
            raise ValueError(f"`{alternative}` is an alternative to nothing")
        alt = level
        for word in alternative.split():
            alt, _ = alt.step(word)
        nodes.append(alt)
    return nodes, words[cut:]


def check_synopsis(text: str, parser: argparse.ArgumentParser) -> list[str]:
    """Problems with one synopsis, ``posterm CMD [SUB|SUB ...] [--option VALUE] ...``: every word before
    the first option names a command (``a|b|c``: each one), and every option is one that each of those
    commands takes, with a value among its choices where the synopsis spells the value out."""
    try:
        nodes, rest = resolve(text, parser)
    except ValueError as e:
        return [f"{text}: {e}"]
    problems = []
    for i, word in enumerate(rest):
        if not _is_option(word):
            continue
        option = word.split("=")[0].rstrip(",;:.)")
        for n in nodes:
            action = _options(n.parser).get(option)
            if action is None:
                problems.append(f"{text}: `{n.name}` takes no {option}")
                continue
            value = rest[i + 1] if i + 1 < len(rest) else ""
            if action.nargs != 0 and action.choices and re.fullmatch(r"[a-z0-9.-]+(\|[a-z0-9.-]+)*", value):
                wrong = [v for v in value.split("|") if v not in {str(c) for c in action.choices}]
                if wrong:
                    problems.append(f"{text}: {option} of `{n.name}` takes {sorted(action.choices)}, not {wrong}")
    return problems


_POSTERM_IN_SPAN = re.compile(r"(?:^|(?<=\s)|(?<=bin/))posterm (?=[a-z])")


def synopses(spans: list[str] = SPANS, parser: argparse.ArgumentParser | None = None) -> list[str]:
    """The inline command lines: from a ``posterm`` word to the end of its span or its shell segment, and a
    span that starts with a sub-command (``update status [--json]``, ``pinblock decode``) as ``posterm``'s."""
    tools = set(_subcommands(_subcommands(parser)["tools"])) if parser is not None else set()
    tops = set(_subcommands(parser)) if parser is not None else set()
    out = []
    for span in spans:
        for segment in re.split(r"\s+(?:&&|\|\||\||;)\s+", span):
            m = _POSTERM_IN_SPAN.search(segment)
            words = segment.split()
            if m is not None:
                out.append(segment[m.start():])
            elif len(words) > 1 and re.fullmatch(r"\[?-?-?[a-z][-a-z0-9|]*\]?", words[1]):
                if words[0] in tops:
                    out.append(f"posterm {segment}")
                elif words[0] in tools:
                    out.append(f"posterm tools {segment}")
    return out


def check_concrete(line: str, parser: argparse.ArgumentParser) -> list[str]:
    """Problems with each ``posterm`` command in one shell line, parsed as ``posterm`` would parse it."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    problems = []
    for i, token in enumerate(tokens):
        if not (token == "posterm" or token.endswith("/bin/posterm")):
            continue
        argv = []
        for word in tokens[i + 1:]:
            if re.fullmatch(r"[&|;()<>]+", word):
                break
            argv.append(word)
        if not argv or not re.match(r"[a-z]", argv[0]):
            continue  # the user or unit called posterm, not the command
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                parser.parse_args(argv)
        except SystemExit:
            problems.append(f"{line.strip()}: {err.getvalue().strip().splitlines()[-1]}")
    return problems


def unit_lines() -> list[str]:
    """The command lines of the systemd units in deploy/."""
    return [line.split("=", 1)[1].lstrip("-+@!:") for unit in sorted((ROOT / "deploy").glob("*.service"))
            for line in unit.read_text().splitlines() if re.match(r"Exec\w*=", line)]


# -- error codes and other dotted names ------------------------------------------------------------
def dotted_names(spans: list[str] = SPANS) -> list[str]:
    """Every ``a.b`` (lower case, not a file.py) the README names: error and alert codes, configuration
    keys, columns, modules."""
    return sorted({s for s in spans if re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+", s)
                   and not s.endswith(".py")})


def source_text() -> str:
    return "\n".join(p.read_text() for d in SOURCE_DIRS for p in sorted((ROOT / d).rglob("*.py")))


def code_patterns(source: str) -> list[re.Pattern]:
    """Codes the source builds rather than spells: ``f"{prefix}.advice_declined"`` matches
    ``void.advice_declined``. Only f-strings that are all code-shaped with some words of their own."""
    patterns = []
    for m in re.finditer(r"""\bf(["'])((?:(?!\1).)*?\{(?:(?!\1).)*)\1""", source):
        parts = re.split(r"\{[^{}]*\}", m.group(2))
        literal = "".join(parts)
        if all(re.fullmatch(r"[a-z0-9_.]*", p) for p in parts) and "." in literal and \
                len(re.sub(r"[^a-z]", "", literal)) >= 4:
            patterns.append(re.compile("[a-z][a-z0-9_]*".join(map(re.escape, parts))))
    return patterns


def _importable(name: str) -> bool:
    """``storage.db.reserve_log``: a module of this repository and an attribute of it."""
    parts = name.split(".")
    if parts[0] not in SOURCE_DIRS:
        return False
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def _written(name: str, source: str) -> bool:
    """``name`` in the source as whole words: ``settle.queue_pending`` does not count for ``settle.queue_pendin``."""
    at = source.find(name)
    while at != -1:
        before, after = source[at - 1:at], source[at + len(name):at + len(name) + 1]
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return True
        at = source.find(name, at + 1)
    return False


def unknown_names(names: list[str], config_keys: set[str]) -> list[str]:
    """The names found nowhere: not a configuration key, not in the source as written or as an f-string
    builds it, not a module attribute."""
    source = source_text()
    patterns = code_patterns(source)
    return [n for n in names if n not in config_keys and not _written(n, source)
            and not any(p.fullmatch(n) for p in patterns) and not _importable(n)]


# -- paths -----------------------------------------------------------------------------------------
_REPO_PATH = re.compile(r"(?<![\w/.~-])(?:\./)?(?:firmware|hal|crypto|storage|deploy|scenarios|tests|scripts|\.ci)/"
                        r"[\w./-]*")


def repo_paths(text_spans: list[str] = SPANS, lines: list[str] | None = None) -> list[str]:
    """Every repository path in inline code and in the ``sh`` blocks."""
    found = set()
    for text in [*text_spans, *(sh_lines() if lines is None else lines)]:
        found.update(p.rstrip(".") for p in _REPO_PATH.findall(text))
    return sorted(found)


def layout_files(text: str = README) -> list[tuple[str, str]]:
    """(folder, name) for each file or folder the Layout table names beside its folder."""
    section = text[text.index("### Layout"):]
    section = section[:section.index("\n## ")]
    out = []
    for folder, what in re.findall(r"^\| `([^`]+/)` \| (.*) \|$", section, re.M):
        out += [(folder, name) for name in re.findall(r"`([^`]+)`", what)
                if re.fullmatch(r"[\w/]+(\.py|\.service|/)", name)]
    return out


def missing_layout_files(pairs: list[tuple[str, str]]) -> list[str]:
    """A file named in a folder's row exists in that folder or below it (``steps.py`` of ``scenario/``)."""
    missing = []
    for folder, name in pairs:
        base = ROOT / folder
        if not (base / name).exists() and not any(base.rglob(name.rstrip("/"))):
            missing.append(f"{folder}{name}")
    return missing


# -- device URLs -----------------------------------------------------------------------------------
def device_urls(text: str = README, spans: list[str] = SPANS) -> list[str]:
    """The device URLs the README gives as examples: written out (not a form such as ``tcp://HOST:PORT``),
    and more than a scheme's name (``hid://``, which the generated driver table covers)."""
    found = set(re.findall(r"\"([a-z]+://[^\"\s]*)\"", text))
    found.update(s for s in spans if re.fullmatch(r"[a-z]+://\S*", s))
    return sorted(u for u in found if not re.search(r"[A-Z]{3,}:", u) and not u.endswith("://"))


def refused_urls(urls: list[str]) -> list[str]:
    """Each URL with the reason no kind of device takes it (a driver is made, nothing is opened)."""
    from firmware.errors import TerminalError
    from hal.registry import KINDS, make_device

    refused = []
    for url in urls:
        reasons = []
        for kind in KINDS:
            try:
                make_device(kind, url)
                break
            except TerminalError as e:
                reasons.append(f"{kind}: {e.code}")
        else:
            refused.append(f"{url} ({'; '.join(reasons)})")
    return refused
