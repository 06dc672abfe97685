"""``tutor app [FILE] [--mode practice|compose|lessons] [--screenshot OUT.png]``: the desktop app.

With ``--screenshot`` the window is rendered with FILE loaded in that mode, running the analysis a
user would see (the critique in compose mode; in practice mode the review of the piece's demo take,
``<stem>_take.mid`` beside it), saved as a PNG, and the command exits. Qt is imported only in ``run``.
"""

from __future__ import annotations

MODES = ("practice", "compose", "lessons")


def add_parser(subparsers):
    parser = subparsers.add_parser("app", help="open the desktop app (optionally on FILE, in a mode)")
    parser.add_argument("file", nargs="?", help="a score to open: .musicxml .xml .mxl .mid .midi .abc .krn or corpus:<path>")
    parser.add_argument("--mode", choices=MODES, default="practice", help="the mode to start in (default: practice)")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="render the window with FILE loaded in that mode, save it as PNG and exit")
    parser.add_argument("--size", default="1500x900", metavar="WxH", help="window size for --screenshot")
    return parser


def run(args) -> int:
    import importlib

    from tutor.errors import TutorError

    for library in ("PySide6", "pyqtgraph"):  # the app's own third-party libraries: a clear line when missing
        try:
            importlib.import_module(library)
        except ImportError as error:
            raise TutorError(f"the desktop app needs PySide6 and pyqtgraph (pip install 'tutor[app]'): {error}") from None
    from tutor.ui import app, screenshot  # the UI package (folder ui/): only this command imports it
    if args.screenshot:
        try:
            width, height = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise TutorError(f"--size must look like 1500x900, not {args.size!r}") from None
        path = screenshot.take_screenshot(args.file, mode=args.mode, out=args.screenshot, width=width, height=height)
        print(path)
        return 0
    return app.main(args.file, mode=args.mode)
