"""How long adapt() takes on N synthetic examples of ~30 words (it runs in the production CLI, on
one core): python -m services.worker.analysis.training.adapt_speed --examples 10000"""

import argparse
import random
import time

from services.worker.analysis.adapt import Example, adapt
from services.worker.analysis.textmodel import shipped_model

WORDS = ("the and you are was this that with have from they will would there their what about which when make "
         "like time just know take people into year your good some could them see other than then now look only "
         "come over think also back after use two how our work first well way even new want because any these give "
         "day most idiot stupid moron trash pathetic loser free prize click win offer cash subscribe channel").split()


def synthetic(n: int, *, seed: int = 7) -> list[Example]:
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(25, 35)))
        abusive = any(w in text for w in ("idiot", "moron", "loser"))
        spammy = "prize" in text or "subscribe" in text
        # a third of the decisions say nothing about one head, as a moderator's often do
        examples.append(Example(text=f"{text} {i % 97}", abuse=None if i % 3 == 0 else int(abusive),
                                spam=None if i % 3 == 1 else int(spammy)))
    return examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=10000)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    base = shipped_model()
    examples = synthetic(args.examples)
    started = time.perf_counter()
    adapt(base, examples, steps=args.steps)
    print(f"{args.examples} examples, {args.steps} steps: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
