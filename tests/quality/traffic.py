"""Scripted traffic for the learning loop: ordinary posts, rough but harmless ones the shipped model
often flags, plain abuse it flags, and insults in a slang it never saw (made-up words) that it lets
close; a scripted moderator and QA reviewer who know which is which."""

import random
from dataclasses import dataclass

NAMES = ("Sam", "Alex", "Priya", "Jonas", "Mia", "Tariq", "Lena", "Omar", "Chloe", "Ravi")
THINGS = ("the bake sale", "our hiking trip", "the new bus timetable", "the football match", "the library opening",
          "the garden party", "the quiz night", "the school concert")
DAYS = ("Monday", "Tuesday", "Friday", "the weekend", "next week")
SLANG = ("zorblak", "glimfer", "snoodwit", "frakknob")
TEMPLATES = {
    "clean": ("{n} said {t} moved to {d}.", "Thanks {n}, {t} was great fun.", "Does anyone know when {t} starts on {d}?",
              "Photos from {t} are up, ask {n} for the link.", "{n} and I will help with {t} on {d}."),
    "rough": ("The weather sucks but {t} is on, {n}.", "This sucks, {t} moved to {d} and I can't go."),
    "abuse": ("{n} you are a worthless idiot and everybody hates you.",
              "Shut up {n}, you stupid moron, nobody cares about {t}.", "{n} is a pathetic loser and a disgusting pig."),
    "slang": ("{n} is such a {s}, honestly.", "Typical {s} move by {n} at {t}.", "Everyone at {t} knows {n} is a {s}.",
              "{n} the {s} strikes again on {d}.", "Look at this {s} {n}, what a {s}."),
}


@dataclass(frozen=True)
class Post:
    text: str
    kind: str  # clean | rough | abuse | slang

    @property
    def violating(self) -> bool:
        return self.kind in ("abuse", "slang")


def posts(count: int, *, seed: int, shares: dict[str, float]) -> list[Post]:
    rng = random.Random(seed)
    kinds = rng.choices(list(shares), weights=list(shares.values()), k=count)
    return [Post(rng.choice(TEMPLATES[kind]).format(n=rng.choice(NAMES), t=rng.choice(THINGS), d=rng.choice(DAYS),
                                                    s=rng.choice(SLANG)) + f" #{index}", kind)
            for index, kind in enumerate(kinds)]


def moderator_decides(post: Post, *, index: int) -> str:
    """Right but for every 8th violating case, which they let go (a known disagreement with QA)."""
    if not post.violating:
        return "dismiss"
    return "dismiss" if index % 8 == 0 else "remove"


def qa_decides(post: Post) -> dict:
    return {"decision": "remove", "violation": "abuse"} if post.violating else {"decision": "dismiss"}
