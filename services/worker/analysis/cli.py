"""`vigil analyser eval FILE.csv [--analyser embedded|groq|http] [--json]`: measure an analyser on a
team's own labelled data (columns text,label[,category]; label 1 = needs a human) to choose its
thresholds. The thresholds are the settings ANALYSER_REVIEW_THRESHOLD, ANALYSER_SPAM_REVIEW_THRESHOLD
and ANALYSER_SANCTION_THRESHOLD (environment or .env), so a candidate is tried with e.g.
`ANALYSER_REVIEW_THRESHOLD=0.4 vigil analyser eval mine.csv`; the sweep shows the rest at once.
Registered on the `vigil` parser by add_analyser_command."""

import argparse
import json
import sys
from pathlib import Path


def _eval(args: argparse.Namespace) -> None:
    from services.worker.analysis import AnalyserNotConfigured, make_analyser
    from services.worker.analysis.evaluate import LabelledFileError, evaluate, read_labelled, render
    from shared.settings import get_settings

    try:
        rows = read_labelled(args.file)
        analyser = make_analyser(get_settings(), kind=args.analyser)
    except (LabelledFileError, AnalyserNotConfigured, OSError) as error:
        print(f"vigil analyser eval: {error}", file=sys.stderr)
        sys.exit(2)
    report = evaluate(analyser, rows, batch=args.batch)
    if args.json:
        print(json.dumps({"file": str(args.file), "analyser": args.analyser, **report}))
    else:
        print(render(report, name=f"{args.file} ({args.analyser})"))


def add_analyser_command(commands: argparse._SubParsersAction) -> None:
    analyser = commands.add_parser("analyser", help="measure the analyser, its models and thresholds").add_subparsers(
        dest="analyser_command", required=True)
    evaluate = analyser.add_parser(
        "eval", help="precision, recall, F1, false-positive rate, a threshold sweep and speed on a labelled CSV",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("file", type=Path, help="CSV with columns text,label (1 = needs a human) and optional category")
    evaluate.add_argument("--analyser", choices=["embedded", "groq", "http"], default="embedded")
    evaluate.add_argument("--json", action="store_true", help="one JSON object (precision, recall, f1, fpr, n, ...)")
    evaluate.add_argument("--batch", type=int, default=32,
                          help="texts the encoder scores at once (1: one at a time, exactly as the worker does)")
    evaluate.set_defaults(func=_eval)
    from services.worker.analysis.learning_cli import add_learning_commands

    add_learning_commands(analyser)
