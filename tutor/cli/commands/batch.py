"""``tutor batch [--score SCORE] SUBMISSIONS_DIR --out REPORT_DIR [--workers N] [--remote URL]``: mark a
class's submissions (takes against the score, or compositions), one report per student and a class CSV;
resumes after an interruption (see ``tutor/batch.py``)."""

from __future__ import annotations


def add_parser(subparsers):
    from tutor.cli.commands._common import add_remote_option

    parser = subparsers.add_parser(
        "batch", help="mark a folder of submissions: per-student reports (JSON + annotated MusicXML) and a class CSV")
    parser.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="folder of takes (.mid, audio) or compositions")
    parser.add_argument("--score", default=None, help="the piece the takes play (omit to critique compositions)")
    parser.add_argument("--out", required=True, metavar="REPORT_DIR", help="folder for the reports (made if missing)")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="submissions analysed at once (default 1)")
    add_remote_option(parser)
    return parser


def run(args) -> int:
    import sys
    from collections import Counter

    from tqdm import tqdm

    from tutor.batch import SUMMARY, run_batch
    from tutor.errors import TutorError

    if args.workers < 1:
        raise TutorError("--workers must be at least 1")
    from tutor.remote.routing import remote_url

    remote = None
    url = remote_url(args.remote)  # --remote, else $TUTOR_REMOTE ('local': this machine)
    if url:
        from tutor.remote.client import RemoteClient

        remote = RemoteClient(url)
    bar = tqdm(unit="file", file=sys.stderr, dynamic_ncols=True, desc="marking")
    places: Counter[str] = Counter()
    problems: list[str] = []

    def progress(submission, entry) -> None:
        bar.update(1)
        bar.set_postfix_str(submission.path.name[:30])
        if entry["status"] == "failed":
            problems.append(f"{submission.path.name}: {entry['problem']}")
            bar.write(f"skipped {submission.path.name}: {entry['problem']}", file=sys.stderr)
        else:
            places[entry.get("ran_on", "local")] += 1

    try:
        outcome = run_batch(args.submissions, args.out, score=args.score, workers=args.workers, remote=remote,
                            progress=progress, on_start=lambda todo, _: bar.reset(total=todo))
    finally:
        bar.close()
    where = ", ".join(f"{n} on {place}" for place, n in places.items()) or "nothing new"
    print(f"{outcome.total} submissions: {outcome.done} marked ({where}), {outcome.skipped} already done, "
          f"{outcome.failed} failed; {outcome.seconds:.1f} s")
    print(f"reports in {outcome.out_dir}, class summary {outcome.out_dir / SUMMARY}")
    return 0  # failed files are listed above and in the summary; the rest of the class is marked
