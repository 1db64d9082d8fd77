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
from pathlib import Path

Row = tuple[str, int, str]  # text, label, category


@dataclass(frozen=True)
class Source:
    name: str
    task: str  # "abuse" or "spam": which head it trains or measures
    repo: str
    commit: str
    paths: tuple[str, ...]
    licence: str
    # "train": both models learn from it (the fast one measured leave-one-source-out); "encoder": only
    # the encoder learns from it (added after the fast model was trained); "eval": never trained on
    role: str
    parse: Callable[[dict[str, str]], Iterator[Row]]
    description: str


_TCO = re.compile(r"https?://t\.co/\S*")


def _without_tco(tweet: str) -> str:
    """A tweet without the t.co links the collection left in (every shared link, and most retweets,
    end in one): they say nothing of the tweet, and in tweet sets that are all negatives of the spam
    head they would teach it that links are not spam."""
    return _TCO.sub(" ", tweet).strip()


def _davidson(files: dict[str, str]) -> Iterator[Row]:
    # class: 0 hate speech, 1 offensive language, 2 neither (majority of 3+ CrowdFlower annotators)
    for row in csv.DictReader(io.StringIO(files["data/labeled_data.csv"])):
        label = 0 if row["class"] == "2" else 1
        yield _without_tco(row["tweet"]), label, ("abuse" if label else "clean")


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


def _convabuse(files: dict[str, str]) -> Iterator[Row]:
    # One row per annotator: an utterance to a chatbot is abusive when most of its annotators called it
    # mildly, strongly or very strongly abusive (-1/-2/-3); "ambiguous" (0) counts as not abusive.
    votes: dict[str, list[int]] = {}
    texts: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(files["1_full/ConvAbuseEMNLPfull.csv"])):
        example = row["example_no"]
        texts[example] = row["user"].strip()
        votes.setdefault(example, []).append(int(any(row[f"is_abuse.{k}"] == "1" for k in ("-1", "-2", "-3"))))
    for example, text in texts.items():
        label = int(sum(votes[example]) * 2 > len(votes[example]))
        if text:
            yield text, label, ("abuse" if label else "clean")


def _hateval(files: dict[str, str]) -> Iterator[Row]:
    # HS: hate speech against immigrants or women (TR: aimed at an individual, AG: aggressive)
    for path, content in sorted(files.items()):
        for row in csv.DictReader(io.StringIO(content.lstrip("\ufeff"))):
            label = int(row["HS"] == "1")
            text = _without_tco(row["text"])
            yield text, label, ("aggressive_hate" if label and row["AG"] == "1" else
                                               "hate" if label else "clean")


_BULLYING = {"gender": 1, "religion": 1, "ethnicity": 1, "not_cyberbullying": 0}


def _cyberbullying(files: dict[str, str]) -> Iterator[Row]:
    # "age" (mostly tweets recalling school bullying) and "other_cyberbullying" (a grab bag) are
    # dropped: their texts are more often about bullying than bullying
    for row in csv.DictReader(io.StringIO(files["cyberbullying_tweets.csv"])):
        label = _BULLYING.get(row["cyberbullying_type"])
        if label is not None and _without_tco(row["tweet_text"]):
            yield _without_tco(row["tweet_text"]), label, (row["cyberbullying_type"] if label else "clean")


def _jigsaw(files: dict[str, str]) -> Iterator[Row]:
    # text,label without a header: 1 where the comment was rated toxic (any of Jigsaw's six labels)
    for row in csv.reader(io.StringIO(files["data/jigsaw/test.csv"])):
        if len(row) == 2 and row[1] in ("0", "1") and row[0].strip():
            yield row[0].strip(), int(row[1]), ("toxic" if row[1] == "1" else "clean")


DYNAHATE_IDS = Path(__file__).with_name("dynahate_ids.txt")


def _dynahate(files: dict[str, str]) -> Iterator[Row]:
    # Only the entries whose acl.id is in dynahate_ids.txt: the seventh of the set the shipped encoder was trained on
    # here (DATA_CARD.md says how), so that the shipped encoder is reproducible from the full CSV.
    # From round 2 on, "perturbation" rows are the contrast set: the smallest edit that flips the
    # label ("... are scum" → "... are not scum").
    wanted = set(DYNAHATE_IDS.read_text().split())
    for row in csv.DictReader(io.StringIO(files["Dynamically Generated Hate Dataset v0.2.3.csv"])):
        if row["acl.id"] in wanted and row["text"].strip():
            label = int(row["label"] == "hate")
            yield row["text"].strip(), label, f"round{row['round']}_{'hate' if label else 'clean'}"


def _trac(files: dict[str, str]) -> Iterator[Row]:
    # OAG overtly aggressive → 1, NAG not aggressive → 0; CAG (covertly aggressive: sarcasm, insinuation)
    # is dropped, as neither a clear yes nor a clear no for a moderation queue
    for path, content in sorted(files.items()):
        for row in csv.reader(io.StringIO(content)):
            if len(row) >= 3 and row[-1] in ("OAG", "NAG") and row[1].strip():
                label = int(row[-1] == "OAG")
                yield row[1].strip(), label, ("aggressive" if label else "clean")


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
    Source("convabuse", "abuse", "amandacurry/convabuse", "c0a9469f48956e868276c605d499010ea3c7c0d0",
           ("1_full/ConvAbuseEMNLPfull.csv",), "CC BY 4.0", "train", _convabuse,
           "4k user turns to two chatbots, abuse by majority of 3+ annotators (Cercas Curry et al., EMNLP 2021)"),
    Source("hateval", "abuse", "melody6140/Erin", "aefa71aa04c703b051ed61344749796656de342c",
           ("dataset/hateval2019_en_train.csv", "dataset/hateval2019_en_dev.csv", "dataset/hateval2019_en_test.csv"),
           "SemEval-2019 Task 5 release (research use; no licence file in the copy)", "train", _hateval,
           "13k tweets, hate speech against immigrants and women or not (Basile et al., SemEval 2019)"),
    Source("cyberbullying_tweets", "abuse", "PanchamiVaradaraju/Cyberbullying-detection-in-Social-Media-Comments",
           "96269d4db06dc29d6e7159a02fbd7ede21078473", ("cyberbullying_tweets.csv",),
           "CC BY 4.0 (Kaggle 'Cyberbullying Classification'; no licence file in the copy)", "train", _cyberbullying,
           "6.7k tweets: gender, religion, ethnicity cyberbullying or none (Wang et al., IEEE BigData 2020; 10k subset)"),
    Source("jigsaw_wikipedia", "abuse", "Hongcheng-Gao/RobTest-Demo", "ed917c2546bda37908f65e417d28722520eac615",
           ("data/jigsaw/test.csv",), "CC0 labels, comment text CC BY-SA 3.0 (Wikipedia talk pages)", "encoder",
           _jigsaw, "12.2k Wikipedia talk-page comments, toxic or not, half each (Jigsaw Toxic Comment "
           "Classification 2018, a balanced sample of its labelled test set as RobTest, Gao et al. 2023, ships it)"),
    Source("dynahate", "abuse", "bvidgen/Dynamically-Generated-Hate-Speech-Dataset",
           "dcc7603e13172221a964eaf3f93d9d5460dc4e08", ("Dynamically Generated Hate Dataset v0.2.3.csv",),
           "no licence file; free for research use with citation (Vidgen et al., ACL 2021)", "encoder", _dynahate,
           "synthetic hate / not hate written in four rounds to fool the models of the round before, half of "
           "each later round minimal contrast edits (Vidgen et al., ACL 2021); the entries of dynahate_ids.txt"),
    Source("hatecheck", "abuse", "paul-rottger/hatecheck-data", "d84302298ceeb34f4b0dde2d8a1f4932c2caa612",
           ("test_suite_cases.csv",), "CC BY 4.0", "eval", _hatecheck,
           "3.7k functional tests: threats, slurs, identity mentions, counter-speech, negation (Röttger et al., ACL 2021)"),
    Source("olid_tweets", "abuse", "victoriyayeotobo/NLP-CW1", "f92c5a699ce967693244082698f1ba6b5e7d01cd",
           ("olid-training-v1.0.tsv",), "OLID / OffensEval 2019 (research release; no licence file in the copy)",
           "eval", _olid, "13.2k tweets labelled offensive or not (Zampieri et al., NAACL 2019)"),
    Source("conan_counter_speech", "abuse", "marcoguerini/CONAN", "627faf12d73ee75291d0c99a1dffd54c811a93cb",
           ("Multitarget-CONAN/Multitarget-CONAN.csv",), "research use only, no redistribution", "eval", _conan,
           "5k expert hate speech / counter-narrative pairs (Fanton et al., ACL 2021); measured, never trained on"),
    Source("trac_facebook", "abuse", "daksh2298/trac_dax", "5d74b8bef1e44270f5770ef661b09795b67a8184",
           ("agr_en_train.csv", "agr_en_dev.csv"), "TRAC-1 shared task release (research use; no licence file in the copy)",
           "eval", _trac, "Facebook comments (Indian English), overtly aggressive or not (Kumar et al., TRAC 2018); "
           "measured, never trained on"),
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
