from services.common.text import (
    clean_message_text,
    html_to_text,
    looks_like_html,
    normalize_whitespace,
    strip_markdown,
    strip_nul,
    strip_nul_json,
)


class TestStripNul:
    def test_removes_nul_from_message(self) -> None:
        assert strip_nul("Оплата\x00 прошла") == "Оплата прошла"

    def test_removes_consecutive_nul(self) -> None:
        assert strip_nul("log:\x00\x00end") == "log:end"

    def test_json_cleans_nested_strings_and_keys(self) -> None:
        record = {
            "id": 13,
            "content": "Оплата\x00 прошла",
            "meta\x00": {"tags": ["a\x00", "b"], "ok": True, "score": 1.5},
            "attachments": None,
        }

        cleaned, removed = strip_nul_json(record)

        assert cleaned == {
            "id": 13,
            "content": "Оплата прошла",
            "meta": {"tags": ["a", "b"], "ok": True, "score": 1.5},
            "attachments": None,
        }
        assert removed == 3

    def test_json_leaves_input_unchanged(self) -> None:
        record = {"content": "a\x00b"}

        strip_nul_json(record)

        assert record == {"content": "a\x00b"}

    def test_json_without_nul_counts_zero(self) -> None:
        cleaned, removed = strip_nul_json(["x", {"y": 1}])

        assert cleaned == ["x", {"y": 1}]
        assert removed == 0


class TestHtmlToText:
    def test_channel_html_becomes_plain_text(self) -> None:
        html = "<p><strong>Счёт №55</strong> оплачен</p>"

        assert html_to_text(html) == "Счёт №55 оплачен"

    def test_block_tags_break_lines(self) -> None:
        html = "<p>Привет</p><p>Счёт<br>оплачен</p><ul><li>один</li><li>два</li></ul>"

        assert html_to_text(html) == "Привет\nСчёт\nоплачен\nодин\nдва"

    def test_entities_are_decoded(self) -> None:
        assert html_to_text("<p>A &amp; B&nbsp;&lt;3&gt;</p>") == "A & B <3>"

    def test_script_and_style_are_dropped(self) -> None:
        html = "<style>p{color:red}</style><p>видно</p><script>alert(1)</script>"

        assert html_to_text(html) == "видно"

    def test_detects_tags_only(self) -> None:
        assert looks_like_html("<p>x</p>")
        assert looks_like_html("line<br/>break")
        assert not looks_like_html("a < b and c > d")
        assert not looks_like_html("цена <100 руб>")


class TestStripMarkdown:
    def test_bold_markers_removed(self) -> None:
        assert strip_markdown("**срочно** перезвоните") == "срочно перезвоните"

    def test_italic_and_strikethrough_removed(self) -> None:
        text = "*важно* и _очень_ ~~старое~~"

        assert strip_markdown(text) == "важно и очень старое"

    def test_inline_code_keeps_content(self) -> None:
        assert strip_markdown("run `make test` now") == "run make test now"

    def test_heading_hashes_removed(self) -> None:
        assert strip_markdown("## Итоги\n# Title") == "Итоги\nTitle"

    def test_link_keeps_text(self) -> None:
        text = "см. [инструкцию](https://docs.example/a) и ![схема](x.png)"

        assert strip_markdown(text) == "см. инструкцию и схема"

    def test_code_fence_lines_removed(self) -> None:
        assert strip_markdown("```python\nx = 1\n```") == "\nx = 1\n"

    def test_plain_symbols_untouched(self) -> None:
        text = "2 * 3 * 4, snake_case_name, C#"

        assert strip_markdown(text) == text


class TestCleanMessageText:
    def test_null_content_gives_empty_text(self) -> None:
        assert clean_message_text(None) == ""

    def test_empty_content_gives_empty_text(self) -> None:
        assert clean_message_text("  \n ") == ""

    def test_html_message_becomes_clean_text(self) -> None:
        text = clean_message_text("<p><strong>Счёт №55</strong> оплачен</p>")

        assert text == "Счёт №55 оплачен"

    def test_markdown_message_loses_markers(self) -> None:
        assert clean_message_text("**срочно** перезвоните") == "срочно перезвоните"

    def test_nul_and_whitespace_normalised(self) -> None:
        text = clean_message_text("  Оплата\x00   прошла \r\n\r\n\tспасибо ")

        assert text == "Оплата прошла\nспасибо"

    def test_markdown_inside_html_removed(self) -> None:
        assert clean_message_text("<p>**срочно**</p>") == "срочно"

    def test_normalize_whitespace_keeps_single_breaks(self) -> None:
        assert normalize_whitespace("a\u00a0 b\n\n\n c ") == "a b\nc"
