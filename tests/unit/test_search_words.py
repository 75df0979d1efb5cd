"""`search.words` reads ASCII text with one regex (the common text); what it finds is
what the character-by-character definition finds (`_unicode_words`)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dataops.domain.search import _unicode_words, words

ASCII = "".join(chr(code) for code in range(128))


def test_every_ascii_character_reads_as_the_definition_reads_it() -> None:
    for char in ASCII:
        for text in (char, f"a{char}b", f"{char}{char}x9", char * 70):
            assert words(text) == _unicode_words(text), repr(text)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from(ASCII), max_size=200))
def test_ascii_text_reads_as_the_definition_reads_it(text: str) -> None:
    assert words(text) == _unicode_words(text)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_other_text_takes_the_definition(text: str) -> None:
    assert words(text) == _unicode_words(text)
