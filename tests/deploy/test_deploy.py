"""deploy/ stays in step with the service: settings that exist, probes on real routes, no secret
in access logs, the load balancer pointing at the replicas the compose file runs.

No container engine is needed: these read the files. (The Kubernetes manifests were also
validated against the 1.30 schemas with kubernetes-validate --strict, and nginx.conf with
nginx -t, which the last test repeats when nginx is installed.)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from callbacks.cli import build_parser
from callbacks.options import ENV_PREFIX
from callbacks.routing import Router
from callbacks.server.app import create_app
from callbacks.server.auth import NoAuthenticator
from callbacks.store import open_store
from callbacks.testing import InProcessIntake
from tests.support import ROOT

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_ONLY = {"CALLBACKS_HTTP_PORT"}  # read by compose.yaml itself, not by the service


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object in deploy/k8s by kind."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in documents(path):
            found[doc["kind"]] = doc
    return found


def serve_variables() -> set[str]:
    """CALLBACKS_<OPTION> for every option of ``callbacks serve``."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = subparsers.choices["serve"]
    return {
        ENV_PREFIX + option[2:].replace("-", "_").upper()
        for action in serve._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }


def no_context(*args: object) -> Any:
    return None


def test_every_yaml_file_parses() -> None:
    paths = sorted(DEPLOY.rglob("*.yaml"))
    assert len(paths) >= 9
    for path in paths:
        assert documents(path), path


def test_every_callbacks_variable_in_deploy_is_a_serve_option() -> None:
    known = serve_variables()
    assert {"CALLBACKS_SECRET", "CALLBACKS_STORE", "CALLBACKS_REPLICA_NAME"} <= known
    named: set[str] = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            named |= set(re.findall(r"\bCALLBACKS_[A-Z_]+[A-Z]\b", path.read_text()))
    assert named - COMPOSE_ONLY <= known, sorted(named - COMPOSE_ONLY - known)
    assert "CALLBACKS_LOG_FORMAT" in named and "CALLBACKS_LEASE" in named


def test_probes_use_routes_the_app_serves() -> None:
    app = create_app(InProcessIntake(Router(), no_context), NoAuthenticator())
    paths = {getattr(route, "path", None) for route in app.routes}
    container = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"/readyz", "/healthz", "/metrics"} <= paths
    annotations = manifests()["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"


def test_the_deployment_takes_its_secrets_from_the_secret_and_names_replicas_by_pod() -> None:
    objects = manifests()
    container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    sources = {
        next(iter(ref)): ref[next(iter(ref))]["name"] for ref in container["envFrom"]
    }
    assert sources == {
        "configMapRef": objects["ConfigMap"]["metadata"]["name"],
        "secretRef": objects["Secret"]["metadata"]["name"],
    }
    secret = set(objects["Secret"]["stringData"])
    assert {"CALLBACKS_SECRET", "CALLBACKS_CONNECTION_STRING", "CALLBACKS_STORE"} <= secret
    assert not secret & set(objects["ConfigMap"]["data"]), "a setting in both places"
    (name,) = [e for e in container["env"] if e["name"] == "CALLBACKS_REPLICA_NAME"]
    assert name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert container["args"][:2] == ["--host", "0.0.0.0"]
    assert objects["Deployment"]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    assert objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == (
        objects["Deployment"]["metadata"]["name"]
    )
    open_store(objects["Secret"]["stringData"]["CALLBACKS_STORE"])  # a URL the service takes


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = documents(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_compose_runs_postgres_two_replicas_and_nginx_in_front_of_them() -> None:
    (compose,) = documents(DEPLOY / "compose.yaml")
    services = compose["services"]
    replicas = {name: s for name, s in services.items() if name.startswith("callbacks-")}
    assert set(services) == {"postgres", "nginx", *replicas} and len(replicas) == 2
    names = {s["environment"]["CALLBACKS_REPLICA_NAME"] for s in replicas.values()}
    assert len(names) == 2
    stores = {s["environment"]["CALLBACKS_STORE"] for s in replicas.values()}
    (store,) = stores
    assert store.startswith("postgresql://") and "@postgres:" in store
    open_store(store)
    for replica in replicas.values():
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert replica["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    upstream = re.findall(r"^\s*server\s+([\w.-]+):8080\b", (DEPLOY / "nginx.conf").read_text(),
                          re.MULTILINE)
    assert sorted(upstream) == sorted(replicas)
    assert services["nginx"]["volumes"] == ["./nginx.conf:/etc/nginx/nginx.conf:ro"]


def test_nginx_never_logs_the_query_string() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    (log_format,) = re.findall(r"log_format\s+callbacks\s+(.*?);", conf, re.DOTALL)
    for variable in ("$request_uri", "$args", "$query_string", "$arg_secret"):
        assert variable not in log_format
    assert not re.search(r"\$request\b", log_format)
    assert re.search(r"access_log\s+\S+\s+callbacks;", conf)
    assert "non_idempotent" in conf  # a POST is retried on the other replica


def test_the_image_is_multi_stage_non_root_and_health_checked() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) == 2
    (user,) = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert user.split(":")[0] not in ("0", "root")
    joined = dockerfile.replace("\\\n", " ")  # continuation lines
    (healthcheck,) = re.findall(r"^HEALTHCHECK (.*)$", joined, re.MULTILINE)
    assert "/healthz" in healthcheck
    assert 'ENTRYPOINT ["callbacks", "serve"]' in dockerfile
    assert 'CMD ["--host", "0.0.0.0"]' in dockerfile
    for copied in re.findall(r"^COPY (?!--from)(.+?) \S+$", dockerfile, re.MULTILINE):
        for source in copied.split():
            assert (DEPLOY.parent / source).exists(), source


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    # Where compose has service names, a test machine has only localhost.
    conf = re.sub(r"server\s+callbacks-\d+:8080", "server 127.0.0.1:8080", conf)
    conf = conf.replace("/tmp/nginx.pid", str(tmp_path / "nginx.pid"))
    (tmp_path / "nginx.conf").write_text(conf)
    result = subprocess.run(
        ["nginx", "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path),
         "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_filled_in_env_file_is_never_committed() -> None:
    """docs/deploy.md has users copy example.env to deploy/.env and put their secrets in it."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a checkout")
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", "deploy/.env"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, "deploy/.env is not git-ignored"
    kept = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", "deploy/example.env"], cwd=ROOT, check=False
    )
    assert kept.returncode == 1, "deploy/example.env must stay tracked"
