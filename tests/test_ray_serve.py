"""deploy/ray_serve.py on a local single-node Ray cluster: the same JSON and token check as ``tutor serve``.

Skipped unless ``ray[serve]`` is installed (it is not a tutor dependency; see docs/serving.md). Run it
in an environment that has it: ``python -m pytest tests/test_ray_serve.py``."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from tests.conftest import REPO, shared
from tests.service_host import free_port
from tutor.cli import main

ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve")
httpx = pytest.importorskip("httpx")

TOKEN = "ray-test-token-0123456789"


def _deploy_module():
    spec = importlib.util.spec_from_file_location("tutor_ray_serve", REPO / "deploy" / "ray_serve.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_ray_serve_deployment_answers_like_tutor_serve(capsys):
    from ray import serve

    score = shared("vienna4x22", "musicxml", "Schubert_D783_no15.musicxml")
    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(_deploy_module().build(replicas=1, device="cpu", token=TOKEN), route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        files = {"file": (score.name, score.read_bytes())}
        assert httpx.post(f"{url}/v1/critique", files=files, timeout=60).status_code == 401
        response = httpx.post(f"{url}/v1/critique", files=files, headers={"Authorization": f"Bearer {TOKEN}"},
                              timeout=300)
        assert response.status_code == 200, response.text
        capsys.readouterr()
        assert main(["critique", str(score), "--json"]) == 0
        assert response.json() == json.loads(capsys.readouterr().out)
        assert httpx.get(f"{url}/v1/health", timeout=60).json()["status"] == "ok"
    finally:
        serve.shutdown()
        ray.shutdown()
