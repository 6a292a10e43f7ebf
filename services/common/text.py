"""Text cleaning applied when source records are normalised into documents.

Chat channels deliver message bodies as plain text, markdown or rendered HTML,
and any of them may contain NUL characters, which Postgres `text` and `jsonb`
columns reject. The functions here turn all of these into plain text.
"""

import re
from html.parser import HTMLParser
from typing import Any, TypeVar, cast

from services.common import jsontext

JsonT = TypeVar("JsonT")

NUL = "\x00"

# Elements whose start or end breaks the line in rendered HTML.
_LINE_BREAK_TAGS = frozenset(
    {"br", "p", "div", "li", "ul", "ol", "tr", "table", "blockquote", "pre", "hr"}
    | {"h1", "h2", "h3", "h4", "h5", "h6"}
)
_INVISIBLE_TAGS = frozenset({"script", "style", "head", "template"})

_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
_CODE_FENCE = re.compile(r"^[ \t]*(?:```|~~~).*$", re.MULTILINE)
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_BLOCKQUOTE = re.compile(r"^[ \t]{0,3}>[ \t]?", re.MULTILINE)
# Each pattern below starts with a literal character, so the re module skips
# to candidate positions. The emphasis lookbehinds therefore follow the marker.
_IMAGE_OR_LINK = re.compile(r"(?:!\[|\[)([^\]\n]*)\]\([^)\n]*\)")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_STRONG = re.compile(r"(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_EMPHASIS_STAR = re.compile(r"\*(?<![\w*]\*)(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_EMPHASIS_UNDERSCORE = re.compile(r"_(?<![\w_]_)(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
_SPACES = re.compile(r"[^\S\n]+")


def strip_nul(text: str) -> str:
    """Remove NUL (0x00) characters, which Postgres text cannot store."""
    return text.replace(NUL, "")


def strip_nul_json(value: JsonT) -> tuple[JsonT, int]:
    """Remove NUL from every string and key of a JSON-like value.

    Returns the cleaned copy and the number of NUL characters removed. When two
    keys of one object differ only by NUL, the later one wins.
    """
    try:
        # The C encoder writes NUL as \u0000; most records have none and are
        # returned as they are, without a walk through every string.
        if "\\u0000" not in jsontext.dumps(value):
            return value, 0
    except (TypeError, ValueError):
        pass
    cleaned, removed = _strip_nul_any(value)
    return cast(JsonT, cleaned), removed


def _strip_nul_any(value: Any) -> tuple[Any, int]:
    if isinstance(value, str):
        return strip_nul(value), value.count(NUL)
    if isinstance(value, dict):
        result: dict[Any, Any] = {}
        total = 0
        for key, item in value.items():
            clean_key, key_removed = _strip_nul_any(key)
            clean_item, item_removed = _strip_nul_any(item)
            result[clean_key] = clean_item
            total += key_removed + item_removed
        return result, total
    if isinstance(value, list | tuple):
        items = [_strip_nul_any(item) for item in value]
        return [item for item, _ in items], sum(count for _, count in items)
    return value, 0


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment, with line breaks at block tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE_TAGS:
            self._hidden_depth += 1
        elif tag in _LINE_BREAK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE_TAGS:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _LINE_BREAK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._hidden_depth == 0:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Convert an HTML fragment to plain text.

    Tags are dropped, character references decoded, and `<br>`, `<p>`, `<li>`
    and the other block elements become line breaks.
    """
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return normalize_whitespace("".join(extractor.parts))


def looks_like_html(text: str) -> bool:
    """Return whether the text contains at least one HTML tag."""
    return _HTML_TAG.search(text) is not None


def strip_markdown(text: str) -> str:
    """Remove markdown markup and keep the text it marks.

    Handles emphasis, strikethrough, inline code, code fences, headings, block
    quotes, and links or images, which keep their text or alt text.
    """
    # Each pattern runs only when the text contains the markup it needs,
    # because scanning long texts is what the function spends its time on.
    if "```" in text or "~~~" in text:
        text = _CODE_FENCE.sub("", text)
    if "#" in text:
        text = _HEADING.sub("", text)
    if ">" in text:
        text = _BLOCKQUOTE.sub("", text)
    if "](" in text:
        text = _IMAGE_OR_LINK.sub(r"\1", text)
    if "`" in text:
        text = _INLINE_CODE.sub(r"\2", text)
    if "**" in text or "__" in text or "~~" in text:
        text = _STRONG.sub(r"\2", text)
    if "*" in text:
        text = _EMPHASIS_STAR.sub(r"\1", text)
    if "_" in text:
        text = _EMPHASIS_UNDERSCORE.sub(r"\1", text)
    return text


def normalize_whitespace(text: str) -> str:
    """Collapse spaces inside each line, trim lines and drop blank lines."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def clean_message_text(content: str | None) -> str:
    """Turn a message body that may be None, HTML or markdown into plain text.

    Returns "" when the message has no text, for example an attachment-only
    message, so callers can skip it.
    """
    if not content:
        return ""
    text = strip_nul(content)
    if looks_like_html(text):
        text = html_to_text(text)
    return normalize_whitespace(strip_markdown(text))
