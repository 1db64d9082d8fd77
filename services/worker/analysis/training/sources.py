"""The public labelled data sets the analyser is trained and measured on: where each one lives (a
public GitHub repository at a pinned commit, a path in it), its licence, and how its labels map to
ours (1 = needs a human, 0 = may close on its own).

Nothing here is downloaded at run time. `python -m services.worker.analysis.training.prepare` reads
each file out of a local git copy of its repository (`git clone <repo>` then check out the commit)
and writes one normalised CSV per source (text,label,category,source) for training and for
`vigil analyser eval`.
"""

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Row = tuple[str, int, str]  # text, label, category


@dataclass(frozen=True)
class Source:
    name: str
    task: str  # "abuse" or "spam": which head it trains or measures
    repo: str
    commit: str
    paths: tuple[str, ...]
    licence: str
    role: str  # "train" (shipped model learns from it; measured leave-one-source-out) or "eval" (never trained on)
    parse: Callable[[dict[str, str]], Iterator[Row]]
    description: str


def _davidson(files: dict[str, str]) -> Iterator[Row]:
    # class: 0 hate speech, 1 offensive language, 2 neither (majority of 3+ CrowdFlower annotators)
    for row in csv.DictReader(io.StringIO(files["data/labeled_data.csv"])):
        label = 0 if row["class"] == "2" else 1
        yield row["tweet"], label, ("abuse" if label else "clean")


def _stormfront(files: dict[str, str]) -> Iterator[Row]:
    labels = {r["file_id"]: r["label"] for r in csv.DictReader(io.StringIO(files["annotations_metadata.csv"]))}
    for file_id, label in labels.items():
        text = files.get(f"all_files/{file_id}.txt")
        if text is None or label not in ("hate", "noHate"):  # "relation" and "idk/skip" have no verdict alone
            continue
        yield text.strip(), int(label == "hate"), ("abuse" if label == "hate" else "clean")


_TOXIGEN_FILE = re.compile(r"(hate|neutral)_")


def _toxigen(files: dict[str, str]) -> Iterator[Row]:
    # The human-curated seed sentences (demonstrations and the 1k prompt files, which repeat them):
    # each prompt line is "- sentence\n- sentence..." with literal backslash-n separators.
    seen: set[str] = set()
    for path, content in sorted(files.items()):
        kind = _TOXIGEN_FILE.search(path.rsplit("/", 1)[-1])
        if not kind:
            continue
        for line in content.splitlines():
            for part in line.split("\\n"):
                sentence = part.strip().lstrip("-").strip()
                if len(sentence) < 8 or sentence.lower() in seen:
                    continue
                seen.add(sentence.lower())
                label = int(kind.group(1) == "hate")
                yield sentence, label, ("abuse" if label else "clean")


def _ethos(files: dict[str, str]) -> Iterator[Row]:
    # isHate is the share of annotators who called the comment hate speech
    for row in csv.DictReader(io.StringIO(files["ethos/ethos_data/Ethos_Dataset_Binary.csv"]), delimiter=";"):
        label = int(float(row["isHate"]) >= 0.5)
        yield row["comment"].strip(), label, ("abuse" if label else "clean")


def _hatecheck(files: dict[str, str]) -> Iterator[Row]:
    for row in csv.DictReader(io.StringIO(files["test_suite_cases.csv"])):
        label = int(row["label_gold"] == "hateful")
        # the functionality (counter_quote_nh, ident_neutral_nh, threat_dir_h, ...) is the category
        yield row["test_case"].strip(), label, row["functionality"]


def _olid(files: dict[str, str]) -> Iterator[Row]:
    for row in csv.DictReader(io.StringIO(files["olid-training-v1.0.tsv"]), delimiter="\t", quoting=csv.QUOTE_NONE):
        label = int(row["subtask_a"] == "OFF")
        category = {"TIN": "targeted_insult", "UNT": "untargeted_profanity"}.get(row["subtask_b"], "clean")
        yield row["tweet"], label, category if label else "clean"


def _conan(files: dict[str, str]) -> Iterator[Row]:
    # Expert-written hate speech and the counter-narrative answering it: counter-speech must not be flagged.
    for row in csv.DictReader(io.StringIO(files["Multitarget-CONAN/Multitarget-CONAN.csv"])):
        yield row["HATE_SPEECH"].strip(), 1, "hate"
        yield row["COUNTER_NARRATIVE"].strip(), 0, "counter_speech"


def _sms(files: dict[str, str]) -> Iterator[Row]:
    for line in files["SMSSpamCollection"].splitlines()[1:]:
        label, _, text = line.partition("\t")
        if label in ("ham", "spam") and text.strip():
            yield text.strip(), int(label == "spam"), ("spam" if label == "spam" else "clean")


def _youtube(files: dict[str, str]) -> Iterator[Row]:
    for path, content in sorted(files.items()):
        for row in csv.DictReader(io.StringIO(content)):
            label = int(row["CLASS"] == "1")
            yield row["CONTENT"].strip(), label, ("spam" if label else "clean")


SOURCES = (
    Source("davidson_tweets", "abuse", "t-davidson/hate-speech-and-offensive-language",
           "cb50f7e9eb855a99abc51423bf40df0e26d6fe30", ("data/labeled_data.csv",), "MIT", "train", _davidson,
           "24.8k tweets labelled hate / offensive / neither (Davidson et al., ICWSM 2017)"),
    Source("stormfront", "abuse", "Vicomtech/hate-speech-dataset", "b802137e8314c38a8d4faa965f9908d6c8e7a84d",
           ("annotations_metadata.csv", "all_files/"), "CC BY-SA 3.0 ES", "train", _stormfront,
           "10.7k forum sentences from a white-supremacist forum, hate / no hate (de Gibert et al., ALW2 2018)"),
    Source("toxigen_seeds", "abuse", "microsoft/TOXIGEN", "01517e814639e0334c920a3c502036c8158aac87",
           ("demonstrations/", "prompts/"), "MIT", "train", _toxigen,
           "human-curated implicit hate and neutral statements about 13 identity groups (Hartvigsen et al., ACL 2022)"),
    Source("ethos_comments", "abuse", "intelligence-csd-auth-gr/Ethos-Hate-Speech-Dataset",
           "705258e118ce9611ebbd5ab2a4841b0066547293", ("ethos/ethos_data/Ethos_Dataset_Binary.csv",), "GPL-3.0",
           "train", _ethos, "998 YouTube and Reddit comments, hate or not (Mollas et al., 2022)"),
    Source("hatecheck", "abuse", "paul-rottger/hatecheck-data", "d84302298ceeb34f4b0dde2d8a1f4932c2caa612",
           ("test_suite_cases.csv",), "CC BY 4.0", "eval", _hatecheck,
           "3.7k functional tests: threats, slurs, identity mentions, counter-speech, negation (Röttger et al., ACL 2021)"),
    Source("olid_tweets", "abuse", "victoriyayeotobo/NLP-CW1", "f92c5a699ce967693244082698f1ba6b5e7d01cd",
           ("olid-training-v1.0.tsv",), "OLID / OffensEval 2019 (research release; no licence file in the copy)",
           "eval", _olid, "13.2k tweets labelled offensive or not (Zampieri et al., NAACL 2019)"),
    Source("conan_counter_speech", "abuse", "marcoguerini/CONAN", "627faf12d73ee75291d0c99a1dffd54c811a93cb",
           ("Multitarget-CONAN/Multitarget-CONAN.csv",), "research use only, no redistribution", "eval", _conan,
           "5k expert hate speech / counter-narrative pairs (Fanton et al., ACL 2021); measured, never trained on"),
    Source("sms_spam", "spam", "hamzaaacodes/sms-spam-collection", "f3e73e1e74e6330b62d1ee1983bba2a063184c26",
           ("SMSSpamCollection",), "CC BY 4.0 (UCI SMS Spam Collection, Almeida & Hidalgo)", "train", _sms,
           "5.6k SMS messages, spam / ham"),
    Source("youtube_spam", "spam", "arshikachauhan/youtube-spam-comment-detector",
           "a53277236d9dfca4f12c82f424aa757edc99b94f",
           tuple(f"data/Youtube0{i}-{n}.csv" for i, n in enumerate(("Psy", "KatyPerry", "LMFAO", "Eminem", "Shakira"), 1)),
           "CC BY 4.0 (UCI YouTube Spam Collection, Alberto et al.)", "train", _youtube,
           "1.96k YouTube comments on five music videos, spam / ham"),
)

BY_NAME = {source.name: source for source in SOURCES}
