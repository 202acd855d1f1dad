"""Text in English and Japanese: every user-facing rule text is a `T` with both languages."""

from __future__ import annotations

LANGS = ("en", "ja")


class T(dict):
    """A text in several languages: `T(en="...", ja="...")`; `t.get_text("ja")` falls back to en."""

    def __init__(self, en: str, ja: str | None = None) -> None:
        super().__init__(en=en, ja=ja if ja is not None else en)

    def get_text(self, lang: str = "en") -> str:
        return self.get(lang) or self["en"]

    def format(self, **kwargs: object) -> T:
        """Both languages formatted with the same arguments."""
        return T(self["en"].format(**kwargs), self["ja"].format(**kwargs))


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    return lang
