"""The serializable boundary between a hook entrypoint and the driver call.

A Request carries everything a driver needs (hook point, the file's text,
the properties); a Response everything the entrypoint must do afterwards.
Both convert to plain dicts, so the same exchange works in-process and over
the agent's unix socket. Standard library only.
"""

from __future__ import annotations


class Request:
    __slots__ = ("hook_point", "data", "properties", "dry_run")

    def __init__(self, hook_point: str, data: str, properties: dict[str, str], dry_run: bool = False):
        self.hook_point = hook_point
        self.data = data  # device XML or JSON text, as VDSM wrote it ("" when empty)
        self.properties = properties  # the hook's environment: custom properties, vmId
        self.dry_run = dry_run

    def to_dict(self) -> dict:
        return {"hook_point": self.hook_point, "data": self.data,
                "properties": self.properties, "dry_run": self.dry_run}

    @classmethod
    def from_dict(cls, d: dict) -> Request:
        return cls(d["hook_point"], d["data"], d["properties"], d.get("dry_run", False))


class Response:
    __slots__ = ("exit_code", "data", "messages", "actions")

    def __init__(self, exit_code: int = 0, data: str | None = None,
                 messages: list[str] | None = None, actions: list[str] | None = None):
        self.exit_code = exit_code
        self.data = data  # new file content, or None: leave the file as it is
        self.messages = messages or []  # one-line messages for stderr
        self.actions = actions or []  # host reads/writes done (or, in dry-run, not done)

    def to_dict(self) -> dict:
        return {"exit_code": self.exit_code, "data": self.data,
                "messages": self.messages, "actions": self.actions}

    @classmethod
    def from_dict(cls, d: dict) -> Response:
        return cls(d["exit_code"], d.get("data"), d.get("messages"), d.get("actions"))

    def __repr__(self) -> str:
        return f"Response(exit_code={self.exit_code}, messages={self.messages!r})"


MAX_LINE = 240


def one_line(text: str) -> str:
    """``text`` as one line of at most MAX_LINE characters: VDSM logs a hook's
    stderr and shows it upward, where a long or multi-line message helps
    nobody. Messages are written to fit; what still makes a line long is a
    path or URL in it, so the longest of those are shortened in their
    middle first and the line still says what failed and how to fix it."""
    words = text.split()
    excess = len(" ".join(words)) - MAX_LINE
    while excess > 0:
        paths = [i for i, word in enumerate(words) if "/" in word and len(word) > 24]
        if not paths:  # nothing left to shorten: cut the middle of the line
            line = " ".join(words)
            tail = MAX_LINE // 3
            return line[:MAX_LINE - tail - 5] + " ... " + line[-tail:]
        longest = max(paths, key=lambda i: len(words[i]))
        word = words[longest]
        keep = max(len(word) - excess - 3, 21)
        words[longest] = word[:keep - keep // 2] + "..." + word[len(word) - keep // 2:]
        excess -= len(word) - len(words[longest])
    return " ".join(words)
