"""The shipped text model: word and character n-grams, TF-IDF weighted, plus a few dense signals,
two logistic-regression heads (abuse, spam). Inference is plain Python over one dict (n-gram → idf
and the two weights): no scikit-learn call per text, whose fixed cost per call is what made the
old analyser slow.

The dense signals are hand-written and source-agnostic (links, link shorteners, premium numbers,
money, calls to action, shouting) plus the score of alt-profanity-check's linear model (MIT; word
TF-IDF and five calibrated linear SVMs, trained by its authors on ~200k tweets and Wikipedia
comments), re-implemented here from its shipped weights so it costs a dict lookup per word.

The same `features` function feeds scikit-learn at training time (training/train.py), and the
training script checks that `TextModel.scores` equals scikit-learn's probabilities."""

import gzip
import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MODEL_PATH = Path(__file__).parent / "model" / "textmodel.json.gz"

URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9-]+\.(?:com|net|org|ly|co|me|tv|gl|be|info|biz|uk)\b(?:/\S*)?",
                 re.IGNORECASE)
MENTION = re.compile(r"@\w+")
HTML_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#\d+);")
LONG_NUMBER = re.compile(r"\d[\d ]{3,}\d")
REPEAT = re.compile(r"(.)\1{2,}")
TOKEN = re.compile(r"[a-z0-9£$€@'_]+|[!?]")
MARKERS = ("xurl", "xuser", "xnum", "xhost_", "xgroup")  # what normalise puts for links, mentions, numbers, groups
# Names of identity groups become one token: in the public data sets they appear far more often in
# hate than elsewhere, so a model that sees them learns "mentions women" = abuse ("Gay people are
# beautiful." scored 0.8). Masked, the words around them decide. Slurs are not in this list.
IDENTITY = re.compile(
    r"\b(?:women|woman|girls|females?|men|males?|gays?|lesbians?|bisexuals?|trans|transgender|transsexuals?|queers?|"
    r"lgbt\w*|homosexuals?|blacks?|whites?|asians?|africans?|arabs?|muslims?|moslems?|islam|islamic|jews?|jewish|"
    r"christians?|catholics?|hindus?|sikhs?|buddhists?|immigrants?|migrants?|refugees?|foreigners?|mexicans?|"
    r"chinese|indians?|pakistanis?|latinos?|latinas?|latinx|hispanics?|natives?|disabled|disabilities|"
    r"gypsies|gypsy|roma|romanians?|polish|europeans?|americans?|elderly|atheists?)\b")
SPACED = re.compile(r"\b(?:[a-z] ){2,}[a-z]\b")  # "w o m e n": letters spaced out to dodge filters
LEETISH = re.compile(r"[0-9@$]")
LETTER = re.compile(r"[a-z]")
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})


def normalise(text: str) -> str:
    text = HTML_ENTITY.sub(" ", text.lower())
    text = URL.sub(lambda m: f" xurl {_host(m.group(0))} ", text)
    text = MENTION.sub(" xuser ", text)
    text = LONG_NUMBER.sub(lambda m: f" xnum{min(len(m.group(0).replace(' ', '')), 12)} ", text)
    text = SPACED.sub(lambda m: m.group(0).replace(" ", ""), text)
    text = IDENTITY.sub(" xgroup ", text)
    return REPEAT.sub(r"\1\1", text)


def _host(url: str) -> str:
    host = re.sub(r"^(?:https?://)?(?:www\.)?", "", url.lower()).split("/", 1)[0]
    return "xhost_" + re.sub(r"[^a-z0-9]", "", host)[:20]


def features(text: str) -> list[str]:
    """The n-grams of a text: words, word pairs, and 4-character pieces of each word."""
    normalised = normalise(text)
    words = TOKEN.findall(normalised)
    if LEETISH.search(normalised):  # most texts have no digit, @ or $ left: skip the word-by-word check
        words = [w.translate(LEET) if LEETISH.search(w) and not w.startswith(MARKERS) and LETTER.search(w) else w
                 for w in words]
    grams = [f"w:{w}" for w in words if w != "xgroup"]  # the group alone says nothing; its context does
    grams += [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    for word in words:
        if word.startswith(MARKERS):
            continue
        padded = f" {word} "
        # 4-character pieces only: measured against 3-5 and against none (training/REPORT.md), they
        # keep most of the robustness to misspellings ("h8te", "wom3n") at a third of the cost
        grams += [f"c:{padded[i:i + 4]}" for i in range(len(padded) - 3)]
    return grams


SHORTENER = re.compile(r"\b(?:bit\.ly|goo\.gl|tinyurl\.com|ow\.ly|is\.gd|buff\.ly|adf\.ly|shorturl\.at|"
                       r"rb\.gy|cutt\.ly|tiny\.cc|lnkd\.in)/", re.IGNORECASE)
PREMIUM = re.compile(r"\b0[89]\d{8,10}\b|\b(?:txt|text|send|reply)\b[^.!?\n]{0,25}\b(?:to|on)\s+\d{4,6}\b", re.IGNORECASE)
MONEY = re.compile(r"[£$€]\s?\d|\b\d[\d,.]*\s?(?:pounds|dollars|usd|gbp|eur|euros|k)\b|\bcash\b", re.IGNORECASE)
CALL_TO_ACTION = re.compile(
    r"\b(?:subscribe|subscribers?|check out|check my|follow me|follow my|my channel|my page|visit|click|claim|"
    r"free|win|won|winner|prize|offer|reward|urgent|call now|order now|buy now|limited|promo|discount|earn|"
    r"guaranteed|bonus|voucher|giveaway|dm me)\b", re.IGNORECASE)
WORD = re.compile(r"(?u)\b\w\w+\b")
# The same patterns without IGNORECASE, for a lowered copy of the text: their literals are all lower
# case, so they match the same, and Python's case-insensitive matching of alternations is several
# times slower (dense() runs for the whole text and for each of its sentences).
_URL, _SHORTENER, _PREMIUM, _MONEY, _CALL_TO_ACTION = (re.compile(p.pattern) for p in (URL, SHORTENER, PREMIUM, MONEY,
                                                                                       CALL_TO_ACTION))
DENSE = ("profanity", "link", "links", "shortener", "premium_number", "money", "calls_to_action", "shouting",
         "exclamations", "negative_words", "most_negative", "most_positive", "negative_to_you", "negative_to_group")
ADDRESSED = re.compile(r"\b(?:you|u|your|ur|youre|yourself|yourselves)\b")


@dataclass(frozen=True)
class Profanity:
    """alt-profanity-check's model, from its weights: word → (idf, the five SVMs' weights)."""

    table: dict[str, tuple[float, ...]]
    intercepts: tuple[float, ...]
    calibration: tuple[tuple[float, float], ...]  # sigmoid calibration (a, b) of each SVM

    def score(self, text: str, *, words: list[str] | None = None) -> float:
        """`words`: WORD.findall of the lowered text, when the caller has them already."""
        counts = Counter(WORD.findall(text.lower()) if words is None else words)
        folds = len(self.intercepts)
        sums = [0.0] * folds
        norm = 0.0
        for word, count in counts.items():
            entry = self.table.get(word)
            if entry is None:
                continue
            value = count * entry[0]
            norm += value * value
            for k in range(folds):
                sums[k] += value * entry[k + 1]
        scale = 1.0 / math.sqrt(norm) if norm else 0.0
        return sum(_sigmoid(-(a * (sums[k] * scale + self.intercepts[k]) + b))
                   for k, (a, b) in enumerate(self.calibration)) / folds


@dataclass(frozen=True)
class Valence:
    """VADER's sentiment lexicon (MIT; 7.5k words rated -4..4 by ten people each, Hutto & Gilbert
    2014), read from the vaderSentiment wheel at training time and shipped inside the model. Words
    the training data never showed still carry their meaning: "You are abhorrent" (-3.1) is negative
    though no data set here has "abhorrent" in an insult."""

    table: dict[str, float]

    def signals(self, low: str, *, words: list[str], group: bool) -> list[float]:
        values = [v for v in map(self.table.get, words) if v is not None]
        if values and NEGATOR.search(low):
            values = self._negated(words)
        negative = [v for v in values if v < 0]
        most_negative = -min(negative) / 4 if negative else 0.0
        # negative words aimed at someone: "you" or a named group in the same text
        return [min(-sum(negative) / 4 / max(len(words), 4) * 2, 1.0), most_negative,
                max(values) / 4 if values and max(values) > 0 else 0.0,
                most_negative if ADDRESSED.search(low) else 0.0, most_negative if group else 0.0]


    def _negated(self, words: list[str]) -> list[float]:
        # VADER's own rule, simplified: a word within three after a negation ("are not disgusting",
        # "isn't a disgrace") counts at -0.74 times its rating
        values = []
        for index, word in enumerate(words):
            value = self.table.get(word)
            if value is not None:
                if any(w in NEGATORS for w in words[max(0, index - 3):index]):
                    value *= -0.74
                values.append(value)
        return values


NEGATORS = frozenset({"not", "no", "never", "nor", "neither", "cannot", "isn", "aren", "wasn", "weren", "don",
                      "doesn", "didn", "shouldn", "wouldn", "couldn", "isnt", "arent", "dont", "doesnt", "didnt",
                      "cant", "hardly"})
NEGATOR = re.compile(r"\b(?:" + "|".join(sorted(NEGATORS)) + r")\b")


def dense(text: str, *, profanity: Profanity, valence: Valence) -> list[float]:
    letters = sum(map(str.isalpha, text))  # map over str methods: a third of a generator's time
    caps = sum(map(str.isupper, text)) / letters if letters >= 8 else 0.0
    low = text.lower()
    links = len(_URL.findall(low))
    without_groups = IDENTITY.sub(" ", low)
    words = WORD.findall(without_groups)
    # the profanity model too learned group names as insults: it sees the text without them
    return [profanity.score(without_groups, words=words), float(links > 0), min(links, 3) / 3,
            float(bool(_SHORTENER.search(low))),
            float(bool(_PREMIUM.search(low))), float(bool(_MONEY.search(low))),
            min(len(_CALL_TO_ACTION.findall(low)), 3) / 3, caps, min(text.count("!"), 5) / 5,
            *valence.signals(low, words=words, group=len(without_groups) != len(low))]


@dataclass(frozen=True)
class Scores:
    abuse: float
    spam: float
    signals: tuple[float, ...] = ()  # the dense signals, in DENSE order (adverts.py reads them again)


class TextModel:
    """Scores a text with the shipped weights: {n-gram: (idf, abuse weight, spam weight)}."""

    def __init__(self, *, table: dict[str, tuple[float, float, float]], bias: tuple[float, float],
                 dense_weights: tuple[tuple[float, ...], tuple[float, ...]], profanity: Profanity, valence: Valence,
                 meta: dict) -> None:
        # idf times each weight, once: scoring is then one multiply per n-gram and head. Only this is
        # kept (the weights alone would be a second ~97k-entry dict, 8 MiB in each worker process)
        self._scaled = {gram: (idf, idf * w_abuse, idf * w_spam) for gram, (idf, w_abuse, w_spam) in table.items()}
        self._bias = bias
        self._dense = dense_weights
        self.profanity = profanity
        self.valence = valence
        self.meta = meta

    @property
    def version(self) -> str:
        """textmodel@ the first 8 hex digits of the shipped file's SHA-256 (an unsaved model: "unsaved")."""
        return f"textmodel@{self.meta.get('version', 'unsaved')}"

    def scores(self, text: str) -> Scores:
        signals = dense(text, profanity=self.profanity, valence=self.valence)
        extra_abuse = sum(w * x for w, x in zip(self._dense[0], signals))
        extra_spam = sum(w * x for w, x in zip(self._dense[1], signals))
        counts = Counter(features(text))
        norm = 0.0
        abuse = spam = 0.0
        scaled = self._scaled
        for gram, count in counts.items():
            entry = scaled.get(gram)
            if entry is None:
                continue
            idf, idf_abuse, idf_spam = entry
            tf = 1.0 if count == 1 else 1.0 + math.log(count)  # sublinear tf, as TfidfVectorizer(sublinear_tf=True)
            value = tf * idf
            norm += value * value
            abuse += tf * idf_abuse
            spam += tf * idf_spam
        scale = 1.0 / math.sqrt(norm) if norm else 0.0
        return Scores(abuse=_sigmoid(self._bias[0] + abuse * scale + extra_abuse),
                      spam=_sigmoid(self._bias[1] + spam * scale + extra_spam), signals=tuple(signals))

    def explain(self, text: str, *, head: str, top: int = 5) -> list[str]:
        """The words and word pairs of the text that pushed the head's score up most (the triggers)."""
        column = 1 if head == "abuse" else 2
        pushes = {}
        for gram in set(features(text)):
            entry = self._scaled.get(gram)
            if entry is not None and gram[0] in "wb" and entry[column] > 0:
                pushes[_readable(gram[2:])] = max(pushes.get(_readable(gram[2:]), 0.0), entry[column])
        return sorted(pushes, key=pushes.__getitem__, reverse=True)[:top]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as handle:
            json.dump(self._payload(), handle, separators=(",", ":"))

    def to_bytes(self) -> bytes:
        """The gzipped JSON that save() writes, with no time stamp or file name in the gzip header:
        the same model gives the same bytes, hence the same version (a candidate model stored in the
        database, where there is no file)."""
        body = json.dumps(self._payload(), separators=(",", ":")).encode("utf-8")
        return gzip.compress(body, compresslevel=9, mtime=0)

    def _payload(self) -> dict:
        grams = sorted(self._scaled)
        scaled = self._scaled
        payload = {"meta": {k: v for k, v in self.meta.items() if k != "version"}, "bias": list(self._bias), "grams": grams,
                   # rounded: 4 significant digits change no score by more than ~1e-3 and halve the file
                   "idf": [round(scaled[g][0], 3) for g in grams],
                   "abuse": [float(f"{scaled[g][1] / scaled[g][0]:.4g}") for g in grams],
                   "spam": [float(f"{scaled[g][2] / scaled[g][0]:.4g}") for g in grams],
                   "dense": {"names": list(DENSE), "abuse": list(self._dense[0]), "spam": list(self._dense[1])},
                   "profanity": {"words": list(self.profanity.table),
                                 "weights": [[float(f"{x:.5g}") for x in v] for v in self.profanity.table.values()],
                                 "intercepts": list(self.profanity.intercepts),
                                 "calibration": [list(c) for c in self.profanity.calibration]},
                   "valence": {"words": list(self.valence.table), "values": list(self.valence.table.values())}}
        return payload

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> "TextModel":
        return cls.from_bytes(path.read_bytes())

    @classmethod
    def from_bytes(cls, raw: bytes) -> "TextModel":
        """A model from what save() wrote or to_bytes() gave; its version is the bytes' SHA-256."""
        payload = json.loads(gzip.decompress(raw))
        table = dict(zip(payload["grams"], zip(payload["idf"], payload["abuse"], payload["spam"])))
        shipped = payload["profanity"]
        profanity = Profanity(table={w: tuple(v) for w, v in zip(shipped["words"], shipped["weights"])},
                              intercepts=tuple(shipped["intercepts"]),
                              calibration=tuple(tuple(c) for c in shipped["calibration"]))
        weights = payload["dense"]
        valence = Valence(table=dict(zip(payload["valence"]["words"], payload["valence"]["values"])))
        return cls(table=table, bias=tuple(payload["bias"]), dense_weights=(tuple(weights["abuse"]), tuple(weights["spam"])),
                   profanity=profanity, valence=valence,
                   meta=payload["meta"] | {"version": digest_version(raw)})

    # A tenant's model (adapt.py) differs from the shipped one in the n-grams its examples had: it is
    # stored, and held in a worker, as those entries over the shipped model's (~5 MiB, not ~35).
    def to_delta(self, base: "TextModel") -> bytes:
        """What differs from `base`, as gzipped JSON (the same model gives the same bytes)."""
        theirs = base._scaled
        changed = sorted(g for g, entry in self._scaled.items()
                         if g not in theirs or any(not math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
                                                   for a, b in zip(entry, theirs[g])))
        payload = {"base": base.version, "meta": {k: v for k, v in self.meta.items() if k != "version"},
                   "bias": list(self._bias), "dense": [list(self._dense[0]), list(self._dense[1])], "grams": changed,
                   "scaled": [list(self._scaled[g]) for g in changed]}
        return gzip.compress(json.dumps(payload, separators=(",", ":")).encode("utf-8"), compresslevel=6, mtime=0)

    @classmethod
    def from_delta(cls, raw: bytes, *, base: "TextModel") -> "TextModel":
        """The model to_delta() stored, over `base`; its version is the bytes' SHA-256."""
        payload = json.loads(gzip.decompress(raw))
        if payload["base"] != base.version:
            raise ValueError(f"it was made over {payload['base']}, this release ships {base.version}: train it again")
        model = cls.__new__(cls)
        model._scaled = dict(base._scaled)
        model._scaled.update(zip(payload["grams"], map(tuple, payload["scaled"])))
        model._bias = tuple(payload["bias"])
        model._dense = tuple(map(tuple, payload["dense"]))
        model.profanity, model.valence = base.profanity, base.valence
        model.meta = payload["meta"] | {"version": digest_version(raw)}
        return model


def digest_version(raw: bytes) -> str:
    """A stored model's version: the first 8 hex digits of its bytes' SHA-256."""
    return hashlib.sha256(raw).hexdigest()[:8]


def _readable(gram: str) -> str:
    words = gram.split()
    return " ".join("<link>" if w == "xurl" else "<@mention>" if w == "xuser" else f"<link to {w[6:]}>"
                    if w.startswith("xhost_") else f"<{w[4:]}-digit number>" if w.startswith("xnum") else w
                    for w in words)


@cache
def shipped_model() -> TextModel:
    return TextModel.load(MODEL_PATH)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -60 else 0.0
