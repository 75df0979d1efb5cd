"""`search.words` reads ASCII text with one regex (the common text); what it finds is
what the character-by-character definition finds (`_unicode_words`). A record's words
(`_unique`) are read from its texts joined when they are all ASCII: the same words as
text by text, word by word (`_unique_each`); the host of a plain URL is read by a regular
expression: the same host as `urlsplit`'s (`_url_host_split`)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dataops.domain.search import (
    MAX_RECORD_WORDS,
    MAX_WORD_CHARS,
    _unicode_words,
    _unique,
    _unique_each,
    _url_host_split,
    url_host,
    words,
)

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


# Texts of a record: short words that repeat within and across texts, long ones (cut to
# `MAX_WORD_CHARS`), punctuation at the joins, None and "", now and then a non-ASCII one.
_WORDISH = st.sampled_from(["ab", "AB", "x1", "9", "a" * (MAX_WORD_CHARS + 3), "-", " ", ".", "é"])
_TEXT = st.one_of(
    st.none(),
    st.lists(_WORDISH, max_size=30).map("".join),
    st.text(alphabet=st.sampled_from(ASCII), max_size=60),
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_TEXT, max_size=8))
def test_a_records_words_are_those_read_text_by_text(texts: list[str | None]) -> None:
    assert _unique(texts) == _unique_each(texts)


def test_a_record_keeps_its_first_words_up_to_the_limit() -> None:
    texts: list[str | None] = [" ".join(f"w{n}" for n in range(30)), None, "w3 x y"]
    texts += [" ".join(f"v{n}" for n in range(30))]
    found = _unique(texts)
    assert found == _unique_each(texts)
    assert len(found) == MAX_RECORD_WORDS
    assert found[:32] == [*(f"w{n}" for n in range(30)), "x", "y"]
    assert found[-1] == "v7"


# URLs near the plain form: schemes in any case, hosts with what `urlsplit` reads apart
# (user, port, brackets, percent), what it removes (tab, line breaks) or strips (leading
# space, controls), characters that fold to ASCII letters (Kelvin sign, long s).
_URL_PART = st.sampled_from(
    [
        *("http", "HTTPS", "hTtP", "s3", "S3", "ftp", "://", ":", "/", "//", "?", "#", "@"),
        *("[", "]", "%", ".", "-", "a", "Z", "9", "bucket", "Example.COM", "\t", "\r", "\n"),
        *(" ", "\x00", "\u212a", "\u017f", "é", ":8080", "user:pw@", "[::1]"),
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_URL_PART, max_size=10).map("".join))
def test_a_urls_host_is_urlsplits(url: str) -> None:
    assert url_host(url) == _url_host_split(url)


def test_plain_urls_hosts() -> None:
    cases = {
        "s3://Bucket-1.example/key?x#y": "bucket-1.example",
        "HTTPS://Example.COM": "example.com",
        "http://a.b/": "a.b",
        "https://user@host/": "host",
        "https://host:8080/p": "host",
        "https://\u212aelvin.example/": "kelvin.example",  # (lower-cased by urlsplit)
        "ftp://host/": None,
        "https://ho\tst/": "host",
    }
    for url, host in cases.items():
        assert url_host(url) == host == _url_host_split(url), url
