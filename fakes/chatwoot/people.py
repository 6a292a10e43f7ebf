"""Made-up customer names and email addresses in English and Russian.

Every address uses the reserved example.com domain, so no loader can produce
a real person's contact data.
"""

import random
from dataclasses import dataclass

ENGLISH_FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan",
    "Mia", "Lucas", "Chloe", "Owen", "Grace", "Henry",
)  # fmt: skip
ENGLISH_LAST_NAMES = (
    "Hart", "Bennett", "Reyes", "Collins", "Foster",
    "Hayes", "Morgan", "Price", "Sutton", "Walsh",
)  # fmt: skip
# (first name, whether the surname takes the feminine form)
RUSSIAN_FIRST_NAMES = (
    ("Анна", True), ("Дмитрий", False), ("Елена", True), ("Сергей", False),
    ("Ольга", True), ("Алексей", False), ("Мария", True), ("Игорь", False),
    ("Татьяна", True), ("Павел", False), ("Наталья", True), ("Максим", False),
)  # fmt: skip
RUSSIAN_LAST_NAMES = (
    ("Смирнов", "Смирнова"), ("Кузнецов", "Кузнецова"), ("Попов", "Попова"),
    ("Волков", "Волкова"), ("Соколов", "Соколова"), ("Морозов", "Морозова"),
    ("Лебедев", "Лебедева"), ("Новиков", "Новикова"),
)  # fmt: skip
LATIN_SPELLINGS = (
    "a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o",
    "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e",
    "yu", "ya",
)  # fmt: skip
TRANSLITERATION = dict(
    zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя", LATIN_SPELLINGS, strict=True)
)


@dataclass(frozen=True)
class Person:
    """A made-up customer: first and last name plus an ASCII email local part."""

    first_name: str
    last_name: str
    email_local_part: str

    @property
    def name(self) -> str:
        """The full name, first name first."""
        return f"{self.first_name} {self.last_name}"


def transliterate(text: str) -> str:
    """Spell Cyrillic text in Latin letters, for email addresses."""
    return "".join(TRANSLITERATION.get(ch, ch) for ch in text.lower())


def draw_people(rng: random.Random, language: str, count: int) -> list[Person]:
    """Draw count distinct made-up people who speak language ("en" or "ru")."""
    if language == "ru":
        combos = [
            (first, female_form if female else male_form)
            for first, female in RUSSIAN_FIRST_NAMES
            for male_form, female_form in RUSSIAN_LAST_NAMES
        ]
    else:
        combos = [(f, last) for f in ENGLISH_FIRST_NAMES for last in ENGLISH_LAST_NAMES]
    if count > len(combos):
        raise ValueError(f"only {len(combos)} distinct {language} names, {count} asked")
    chosen = rng.sample(combos, count)
    return [
        Person(first, last, f"{transliterate(first)}.{transliterate(last)}")
        for first, last in chosen
    ]


def draw_name(rng: random.Random, language: str) -> str:
    """Draw one made-up full name, which may repeat across calls."""
    return draw_people(rng, language, 1)[0].name
