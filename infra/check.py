#!/usr/bin/env python3
"""Checks what CI cannot run: the compose file and the Kubernetes manifests parse and hang
together (every reference names something that exists), and `cdp` starts with exactly the
arguments and settings they give it, against this machine's PostgreSQL and Redis.

    python3 infra/check.py target/debug/cdp

DATABASE_URL and REDIS_URL name the services the started processes use in place of the
cluster's; a secret a manifest reads from a Secret gets a test value.
"""

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
problems = []


def problem(text):
    problems.append(text)
    print(f"  problem: {text}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- compose

def compose_processes():
    """(name, args, env) of every cdp container of docker-compose.yml."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    volumes = set((compose.get("volumes") or {}).keys())
    processes = []
    for name, service in services.items():
        if not ("image" in service or "build" in service):
            problem(f"compose: {name} has neither image nor build")
        depends = service.get("depends_on") or {}
        for other in depends:
            if other not in services:
                problem(f"compose: {name} depends on unknown service {other}")
        for mount in service.get("volumes") or []:
            source = mount.split(":")[0]
            if source.startswith("."):
                if not (ROOT / source).exists():
                    problem(f"compose: {name} mounts {source}, which is not in the repository")
            elif source not in volumes:
                problem(f"compose: {name} uses undeclared volume {source}")
        if service.get("image") == "cdp:local":
            env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
            processes.append((f"compose {name}", list(service.get("command") or ["serve"]), env))
    roles = {tuple(p[1]) for p in processes}
    for role in ("ingest", "api", "projector", "dispatcher"):
        if ("serve", "--roles", role) not in roles:
            problem(f"compose: no container runs the {role} role")
    ingest = services.get("ingest", {})
    if (ingest.get("deploy") or {}).get("replicas", 1) < 2:
        problem("compose: ingest should have two replicas")
    print(f"compose: {len(services)} services, {len(processes)} cdp containers")
    return processes


# ---------------------------------------------------------------- kubernetes

def k8s_documents():
    folder = ROOT / "infra" / "k8s"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    documents = []
    for resource in kustomization["resources"]:
        path = folder / resource
        if not path.exists():
            problem(f"k8s: kustomization lists missing {resource}")
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document is None:
                continue
            for key in ("apiVersion", "kind", "metadata"):
                if key not in document:
                    problem(f"k8s: {resource} has a document without {key}")
            documents.append(document)
    for path in (folder / "optional").glob("*.yaml"):
        list(yaml.safe_load_all(path.read_text()))
    return documents


def k8s_processes(documents):
    by_kind = {}
    for d in documents:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    config = {}
    for cm in by_kind.get("ConfigMap", {}).values():
        config[cm["metadata"]["name"]] = cm.get("data") or {}
    workloads = list(by_kind.get("Deployment", {}).values()) + list(by_kind.get("Job", {}).values())
    labels_of = {}
    processes = []
    for w in workloads:
        name = w["metadata"]["name"]
        template = w["spec"]["template"]
        labels = template["metadata"].get("labels") or {}
        selector = (w["spec"].get("selector") or {}).get("matchLabels")
        if selector is not None:
            if any(labels.get(k) != v for k, v in selector.items()):
                problem(f"k8s: {name}'s selector does not match its pod labels")
            labels_of[name] = labels
        volumes = {v["name"] for v in template["spec"].get("volumes") or []}
        for c in template["spec"]["containers"]:
            for mount in c.get("volumeMounts") or []:
                if mount["name"] not in volumes:
                    problem(f"k8s: {name} mounts unknown volume {mount['name']}")
            if c["image"] != "cdp":
                continue
            env = {}
            for source in c.get("envFrom") or []:
                ref = source.get("configMapRef", {}).get("name")
                if ref not in config:
                    problem(f"k8s: {name} reads unknown ConfigMap {ref}")
                env.update(config.get(ref, {}))
            for e in c.get("env") or []:
                if "value" in e:
                    env[e["name"]] = str(e["value"])
                else:
                    secret = e["valueFrom"]["secretKeyRef"]
                    env[e["name"]] = f"<secret {secret['name']}/{secret['key']}>"
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                if probe in c and c[probe]["httpGet"]["path"] not in ("/readyz", "/healthz"):
                    problem(f"k8s: {name}'s {probe} is not /readyz or /healthz")
            if w["kind"] == "Deployment" and "readinessProbe" not in c:
                problem(f"k8s: {name} has no readiness probe")
            processes.append((f"k8s {name}", list(c.get("args") or []), env))
    def selects(selector):
        return any(all(l.get(k) == v for k, v in selector.items()) for l in labels_of.values())
    for kind in ("Service", "PodDisruptionBudget"):
        for d in by_kind.get(kind, {}).values():
            s = d["spec"]["selector"]
            s = s.get("matchLabels", s)
            if not selects(s):
                problem(f"k8s: {kind} {d['metadata']['name']} selects no pods")
    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        if hpa["spec"]["scaleTargetRef"]["name"] not in by_kind.get("Deployment", {}):
            problem(f"k8s: HPA {hpa['metadata']['name']} targets no Deployment")
    services = by_kind.get("Service", {})
    for ingress in by_kind.get("Ingress", {}).values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]["name"]
                if backend not in services:
                    problem(f"k8s: the ingress sends {path['path']} to unknown service {backend}")
    for role in ("ingest", "api", "projector", "dispatcher"):
        d = by_kind.get("Deployment", {}).get(f"cdp-{role}")
        if d is None:
            problem(f"k8s: no Deployment for the {role} role")
        elif f"cdp-{role}" not in by_kind.get("PodDisruptionBudget", {}):
            problem(f"k8s: no PodDisruptionBudget for the {role} role")
    print(f"k8s: {len(documents)} documents, {len(processes)} cdp containers")
    return processes


# ---------------------------------------------------------------- starting cdp

def local_env(env, key_file):
    """The container's settings with this machine's services in place of the cluster's."""
    local = {"PATH": os.environ["PATH"], "RUST_LOG": "warn"}
    for name, value in env.items():
        if name == "DATABASE_URL":
            value = os.environ["DATABASE_URL"]
        elif name == "REDIS_URL":
            value = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
        elif name == "CDP_MASTER_KEY_FILE":
            value = key_file
        elif name == "CDP_HTTP_ADDR":
            value = f"127.0.0.1:{free_port()}"
        elif name == "OTEL_EXPORTER_OTLP_ENDPOINT":
            # Nothing listens there: exporting fails quietly, as it would with no collector.
            value = f"http://127.0.0.1:{free_port()}"
        elif value.startswith("<secret "):
            value = "test-secret-value"
        local[name] = value
    local.setdefault("CDP_HTTP_ADDR", f"127.0.0.1:{free_port()}")
    return local


def start(cdp, name, args, env, key_file, workdir):
    local = local_env(env, key_file)
    shown = subprocess.run([cdp, "config"], env=local, cwd=workdir, capture_output=True, text=True)
    if shown.returncode != 0:
        problem(f"{name}: `cdp config` refuses its settings: {shown.stderr.strip()}")
        return
    if args[:1] == ["migrate"]:
        done = subprocess.run([cdp, *args], env=local, cwd=workdir, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            problem(f"{name}: `cdp {' '.join(args)}` failed: {done.stderr.strip()[-500:]}")
        else:
            print(f"  {name}: cdp {' '.join(args)} ok")
        return
    log = tempfile.TemporaryFile()
    process = subprocess.Popen([cdp, *args], env=local, cwd=workdir, stdout=log, stderr=log)
    url = f"http://{local['CDP_HTTP_ADDR']}/readyz"
    deadline = time.time() + 180
    ready = False
    while time.time() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                ready = r.status == 200
                break
        except Exception:
            time.sleep(0.3)
    if not ready:
        process.kill()
        log.seek(0)
        problem(f"{name}: `cdp {' '.join(args)}` did not become ready: {log.read().decode()[-800:]}")
        return
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        code = "no exit"
    if code != 0:
        log.seek(0)
        problem(f"{name}: did not stop cleanly on SIGTERM ({code}): {log.read().decode()[-800:]}")
    else:
        print(f"  {name}: cdp {' '.join(args)} ready, stopped cleanly")


def main():
    cdp = str(Path(sys.argv[1]).resolve())
    if "DATABASE_URL" not in os.environ:
        sys.exit("set DATABASE_URL to a PostgreSQL database the started processes may use")
    processes = compose_processes() + k8s_processes(k8s_documents())
    with tempfile.TemporaryDirectory() as workdir:
        key_file = os.path.join(workdir, "master.key")
        with open(key_file, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode())
        os.chmod(key_file, 0o400)
        # Migrations first, as the compose file and the Job order them.
        processes.sort(key=lambda p: p[1][:1] != ["migrate"])
        for name, args, env in processes:
            start(cdp, name, args, env, key_file, workdir)
    if problems:
        sys.exit(f"{len(problems)} problem(s) in the deployment files")
    print("deployment files: ok")


if __name__ == "__main__":
    main()
