"""The tutor analysis service on Ray Serve: one replica per GPU (or per CPU slot), for a class that
outgrows one GPU host. Ray does the scheduling, routing and back-pressure; each replica is the same app
as ``tutor serve`` (``tutor.service.server.create_app``: same endpoints, same JSON, same token and upload checks).

    pip install -c constraints.txt ".[ray]"   # the ray extra (ray[serve]), on the serving machines
    ray start --head                    # on the first machine; `ray start --address=HEAD:6379` on the others
    TUTOR_SERVICE_TOKEN=... python deploy/ray_serve.py --replicas 4 --port 8000

Without ``--replicas`` it runs one replica per GPU in the cluster (at least one, on CPU when there is
none). The token is ``$TUTOR_SERVICE_TOKEN``, else the one ``tutor serve`` keeps in the config folder
(made on first use, shown once). Details: docs/serving.md.
"""

from __future__ import annotations

import argparse
import os
import sys


def build(*, replicas: int | None = None, device: str = "auto", workers: int = 1, queue_size: int = 16,
          max_upload_mb: float = 50.0, timeout_s: float = 300.0, token: str | None = None):
    """The Ray Serve application (``serve.run(build(...))``)."""
    import ray
    from ray import serve
    from starlette.responses import Response

    from tutor.service.server import load_or_create_token

    if token is None:
        token = os.environ.get("TUTOR_SERVICE_TOKEN") or load_or_create_token()[0]
    gpus = int(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0
    count = replicas or max(1, gpus)
    options = {"num_gpus": 1} if gpus and device != "cpu" else {"num_cpus": 1}

    @serve.deployment(num_replicas=count, ray_actor_options=options,
                      max_ongoing_requests=workers + queue_size)
    class TutorService:
        """One ``tutor serve`` app per replica; models load once when the replica starts."""

        def __init__(self) -> None:
            from tutor.service.server import ServiceConfig, create_app

            config = ServiceConfig(token=token, device=device, workers=workers, queue_size=queue_size,
                                   max_upload_mb=max_upload_mb, timeout_s=timeout_s, preload=True)
            self.app = create_app(config)  # the analyses run in its worker processes, which load the models

        async def __call__(self, request):
            import httpx

            body = await request.body()
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://replica") as client:
                answer = await client.request(request.method, request.url.path, params=request.query_params,
                                              headers=[(k, v) for k, v in request.headers.items() if k != "host"],
                                              content=body, timeout=None)
            headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "transfer-encoding")}
            return Response(answer.content, status_code=answer.status_code, headers=headers)

    return TutorService.bind()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=None, help="Ray cluster address (default: start or join a local one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--replicas", type=int, default=None, help="default: one per GPU")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--queue", type=int, default=16)
    args = parser.parse_args(argv)

    import ray
    from ray import serve

    ray.init(address=args.address)
    serve.start(http_options={"host": args.host, "port": args.port})
    serve.run(build(replicas=args.replicas, device=args.device, queue_size=args.queue), route_prefix="/", blocking=False)
    print(f"tutor on Ray Serve: http://{args.host}:{args.port}/v1/ (Ctrl+C stops)", file=sys.stderr)
    try:
        import time

        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
