"""deploy/ray_serve.py on a local single-node Ray cluster: the same JSON and token check as ``tutor serve``.

``ray[serve]`` comes with the ``ray`` extra, which ``make test`` installs. The cluster is this process's
own (one CPU, a small object store, no dashboard, no usage report, every Ray process and Serve's HTTP proxy
on 127.0.0.1), and the whole test is bounded by a pytest timeout."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import sys
import tempfile

import httpx
import pytest
import ray
from ray import serve
from ray._private import ray_constants

from tests.conftest import REPO, shared
from tests.service_host import free_port
from tutor.cli import main

TOKEN = "ray-test-token-0123456789"


def _deploy_module():
    spec = importlib.util.spec_from_file_location("tutor_ray_serve", REPO / "deploy" / "ray_serve.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def local_ray(monkeypatch):
    """A new Ray cluster of one CPU on this machine, every Ray process on 127.0.0.1, shut down and its
    files removed afterwards; yields Serve's loopback URL."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # no usage report over the network
    # Ray's single-machine mode (its default on macOS/Windows): node address 127.0.0.1, so the GCS, raylet,
    # agents and workers listen on loopback, not on every interface. Ray reads the variable when it is
    # imported; this process imported it already, the processes it starts read the environment.
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    # Ray's token authentication stays on (ray.init sets RAY_AUTH_MODE=token), with a throw-away token
    # instead of one saved in ~/.ray/auth_token
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    had_auth_mode = "RAY_AUTH_MODE" in os.environ
    assert not ray.is_initialized()
    temp_dir = tempfile.mkdtemp(prefix="ray-")  # short: Ray's unix sockets live under it
    port = free_port()
    try:
        ray.init(address="local", num_cpus=1, num_gpus=0, object_store_memory=100 * 1024 * 1024,
                 include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
        assert ray.util.get_node_ip_address() == "127.0.0.1"
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        yield f"http://127.0.0.1:{port}"
    finally:
        try:
            if ray.is_initialized():
                serve.shutdown()
        finally:
            ray.shutdown()
            shutil.rmtree(temp_dir, ignore_errors=True)
            if not had_auth_mode:
                os.environ.pop("RAY_AUTH_MODE", None)


@pytest.mark.timeout(300)
def test_ray_serve_deployment_answers_like_tutor_serve(local_ray, capsys):
    score = shared("vienna4x22", "musicxml", "Schubert_D783_no15.musicxml")
    serve.run(_deploy_module().build(replicas=1, device="cpu", token=TOKEN), route_prefix="/")
    url = local_ray
    assert httpx.get(f"{url}/v1/health", timeout=60).json()["status"] == "ok"
    files = {"file": (score.name, score.read_bytes())}
    assert httpx.post(f"{url}/v1/critique", files=files, timeout=60).status_code == 401
    response = httpx.post(f"{url}/v1/critique", files=files, headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=240)
    assert response.status_code == 200, response.text
    capsys.readouterr()
    assert main(["critique", str(score), "--json"]) == 0
    assert response.json() == json.loads(capsys.readouterr().out)
