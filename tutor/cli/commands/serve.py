"""``tutor serve [--host 127.0.0.1] [--port N] [--device auto|cuda|cpu] [--queue N] [--max-upload-mb N]
[--per-client N] [--body-timeout S] [--header-timeout S] [--spare-workers N]``: the analyses over HTTP for the laptops of a class
(see ``tutor/service/server.py``, ``tutor/service/limits.py`` and docs/serving.md)."""

from __future__ import annotations

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(subparsers):
    parser = subparsers.add_parser("serve", help="serve transcribe/assess/critique/suggest over HTTP (token auth)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto", help="where models run")
    parser.add_argument("--queue", type=int, default=16, metavar="N", help="requests that may wait (default 16)")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="analyses run at once (default 1)")
    parser.add_argument("--max-upload-mb", type=float, default=50.0, metavar="N", help="largest request (default 50)")
    parser.add_argument("--batching", choices=("auto", "on", "off"), default="auto",
                        help="share the style/emotion models' forward passes between concurrent requests "
                             "(default auto: on a GPU only)")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="S",
                        help="longest analysis in seconds; its worker process is then killed and replaced (default 300)")
    parser.add_argument("--per-client", type=int, default=4, metavar="N",
                        help="requests in progress per client address, 429 beyond (default 4: `tutor batch "
                             "--workers 4` still fits; 0: no limit, for clients that all come through one proxy)")
    parser.add_argument("--body-timeout", type=float, default=30.0, metavar="S",
                        help="a request's upload must arrive within S seconds, or keep arriving at 32 kB/s "
                             "or faster, else 408 (default 30)")
    parser.add_argument("--header-timeout", type=float, default=10.0, metavar="S",
                        help="a request's headers must arrive within S seconds, else 408 (default 10)")
    parser.add_argument("--spare-workers", type=int, default=0, metavar="N",
                        help="worker processes kept loaded to replace one killed after --timeout at once "
                             "(default 0: a fresh one loads the models first; each costs a worker's memory)")
    return parser


def run(args) -> int:
    import sys

    from tutor.errors import TutorError

    try:
        import uvicorn
    except ImportError:
        raise TutorError("tutor serve needs fastapi and uvicorn: pip install 'tutor[serve]'") from None
    from tutor.service.limits import uvicorn_config
    from tutor.service.server import ServiceConfig, create_app, load_or_create_token, token_path

    if args.queue < 0 or args.workers < 1 or args.max_upload_mb <= 0 or args.timeout <= 0:
        raise TutorError("--queue must be >= 0, --workers >= 1, --max-upload-mb and --timeout > 0")
    if args.per_client < 0 or args.spare_workers < 0 or args.body_timeout <= 0 or args.header_timeout <= 0:
        raise TutorError("--per-client and --spare-workers must be >= 0, --body-timeout and --header-timeout > 0")
    token, created = load_or_create_token()
    if created:
        print(f"service token (shown only now; stored in {token_path()}, mode 0600):\n  {token}", file=sys.stderr)
    else:
        print(f"service token: in {token_path()}", file=sys.stderr)
    if args.host not in LOOPBACK:
        print(f"warning: binding {args.host}: other machines can reach this service; keep the token secret "
              "and use it only on a network you trust (or behind an HTTPS proxy)", file=sys.stderr)
    config = ServiceConfig(token=token, device=args.device, workers=args.workers, queue_size=args.queue,
                           max_upload_mb=args.max_upload_mb, timeout_s=args.timeout, preload=True,
                           batching=args.batching, per_client=args.per_client, body_timeout_s=args.body_timeout,
                           header_timeout_s=args.header_timeout, spare_workers=args.spare_workers)
    app = create_app(config)
    print(f"tutor serve: http://{args.host}:{args.port}/v1/ on {app.state.device}"
          f"{' with micro-batching' if app.state.batching else ''} "
          f"(OpenAPI at /openapi.json; Ctrl+C stops)", file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn_config(app, host=args.host, port=args.port, header_timeout_s=args.header_timeout)).run()
    return 0
