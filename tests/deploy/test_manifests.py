"""Render each kustomize overlay and check it against the code it deploys.

The environment variables each process reads come from its pydantic settings
class, so a setting added in code without a value in the manifests fails here.
"""

import functools
import re
import shutil
import subprocess
import typing
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from gateway.settings import GatewaySettings
from services.auth.settings import AuthSettings
from services.connectors.settings import ConnectorsSettings
from services.rag.settings import RagSettings
from services.reconcile.settings import ReconcileSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# The Kubernetes release whose schemas the objects must satisfy.
KUBERNETES_VERSION = "1.32.0"

GRPC_SERVICES: dict[str, type[BaseSettings]] = {
    "auth": AuthSettings,
    "connectors": ConnectorsSettings,
    "rag": RagSettings,
    "reconcile": ReconcileSettings,
}
SETTINGS_BY_DEPLOYMENT: dict[str, type[BaseSettings]] = {
    **GRPC_SERVICES,
    "gateway": GatewaySettings,
}
# Fields whose code default is wrong in a cluster besides secrets and loopback
# addresses: the console log format and no metrics port.
CLUSTER_FIELDS = {"metrics_port", "log_format"}
LOOPBACK_PREFIXES = ("127.0.0.1", "localhost")
METRICS_MODULES = [
    *sorted((REPO_ROOT / "services").glob("*/metrics.py")),
    REPO_ROOT / "gateway" / "metrics.py",
]
PROMQL_WORDS = {"max", "min", "sum", "clamp_min", "increase", "time", "offset"}

Manifest = dict[str, Any]


@functools.cache
def render(path: str) -> tuple[Manifest, ...]:
    """Return the objects `kubectl kustomize` renders from a folder under deploy/k8s."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail(
            "kubectl is not installed; these tests need it to render"
            " deploy/k8s with `kubectl kustomize`"
        )
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR / path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"kubectl kustomize {path} failed: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def objects(manifests: tuple[Manifest, ...], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def env_names(settings_class: type[BaseSettings]) -> dict[str, tuple[str, FieldInfo]]:
    """Map each environment variable a settings class reads to its field."""
    prefix = settings_class.model_config.get("env_prefix", "")
    names = {}
    for field_name, field in settings_class.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            choices = [choice for choice in alias.choices if isinstance(choice, str)]
        elif isinstance(alias, str):
            choices = [alias]
        else:
            choices = [f"{prefix}{field_name}".upper()]
        for choice in choices:
            names[choice] = (field_name, field)
    return names


def is_secret(field: FieldInfo) -> bool:
    return field.annotation is SecretStr or SecretStr in typing.get_args(
        field.annotation
    )


def is_loopback(field: FieldInfo) -> bool:
    return isinstance(field.default, str) and field.default.startswith(
        LOOPBACK_PREFIXES
    )


def required_names(settings_class: type[BaseSettings]) -> set[str]:
    """Return the variables that must be set in a cluster.

    They are the secrets, every setting whose default is a loopback address
    (listen addresses and the other services' addresses) and CLUSTER_FIELDS.
    """
    return {
        name
        for name, (field_name, field) in env_names(settings_class).items()
        if is_secret(field) or is_loopback(field) or field_name in CLUSTER_FIELDS
    }


def container_env(
    container: Manifest, manifests: tuple[Manifest, ...]
) -> dict[str, Manifest]:
    """Return each variable a container gets, as {"value": ...} or its valueFrom."""
    configmaps = objects(manifests, "ConfigMap")
    provided: dict[str, Manifest] = {}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        for key, value in configmaps[ref].get("data", {}).items():
            provided[key] = {"value": value, "configMap": ref}
    for entry in container.get("env", []):
        provided[entry["name"]] = entry.get("valueFrom") or {"value": entry["value"]}
    return provided


def only_container(workload: Manifest) -> Manifest:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, workload["metadata"]["name"]
    return typing.cast(Manifest, containers[0])


def port_named(container: Manifest, name: str) -> int:
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    return typing.cast(int, ports[name])


def image_tag(image: str) -> str:
    return image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return typing.cast(str, request.param)


@pytest.fixture
def manifests(overlay: str) -> tuple[Manifest, ...]:
    return render(f"overlays/{overlay}")


def test_every_object_validates_strictly(manifests: tuple[Manifest, ...]) -> None:
    for manifest in manifests:
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(f"{name} is invalid at {path}: {error.message}")


def test_cluster_settings_are_provided(
    manifests: tuple[Manifest, ...],
) -> None:
    deployments = objects(manifests, "Deployment")
    for name, settings_class in SETTINGS_BY_DEPLOYMENT.items():
        provided = container_env(only_container(deployments[name]), manifests)
        missing = required_names(settings_class) - provided.keys()
        assert not missing, f"{name} lacks {sorted(missing)}"


def test_every_provided_variable_is_read(manifests: tuple[Manifest, ...]) -> None:
    deployments = objects(manifests, "Deployment")
    for name, settings_class in SETTINGS_BY_DEPLOYMENT.items():
        provided = container_env(only_container(deployments[name]), manifests)
        read = env_names(settings_class).keys()
        unknown = {
            variable
            for variable in provided
            if variable not in read and not variable.startswith("OTEL_")
        }
        assert not unknown, f"{name} sets variables no setting reads: {unknown}"


def test_secrets_come_from_secret_refs(manifests: tuple[Manifest, ...]) -> None:
    deployments = objects(manifests, "Deployment")
    for name, settings_class in SETTINGS_BY_DEPLOYMENT.items():
        provided = container_env(only_container(deployments[name]), manifests)
        for variable, (_, field) in env_names(settings_class).items():
            if not is_secret(field) or variable not in provided:
                continue
            source = provided[variable]
            assert "secretKeyRef" in source, f"{name} sets {variable} without a Secret"


def test_prod_creates_no_secret() -> None:
    prod = render("overlays/prod")

    assert objects(prod, "Secret") == {}
    assert objects(prod, "StatefulSet") == {}


def test_prod_images_are_pinned() -> None:
    for workload in [
        *objects(render("overlays/prod"), "Deployment").values(),
        *objects(render("overlays/prod"), "Job").values(),
    ]:
        image = only_container(workload)["image"]
        assert image_tag(image) not in {"", "latest"}, image


def test_listen_addresses_match_ports(manifests: tuple[Manifest, ...]) -> None:
    deployments = objects(manifests, "Deployment")
    for name in GRPC_SERVICES:
        container = only_container(deployments[name])
        provided = container_env(container, manifests)
        listen = provided[f"{name.upper()}_LISTEN_ADDRESS"]["value"]
        metrics_port = provided["METRICS_PORT"]["value"]

        assert listen == f"0.0.0.0:{port_named(container, 'grpc')}"
        assert int(metrics_port) == port_named(container, "metrics")
    gateway = only_container(deployments["gateway"])
    gateway_env = container_env(gateway, manifests)
    assert gateway_env["GATEWAY_HOST"]["value"] == "0.0.0.0"
    assert int(gateway_env["GATEWAY_PORT"]["value"]) == port_named(gateway, "http")


def test_service_addresses_name_existing_services(
    manifests: tuple[Manifest, ...],
) -> None:
    services = objects(manifests, "Service")
    deployments = objects(manifests, "Deployment")
    for name in SETTINGS_BY_DEPLOYMENT:
        provided = container_env(only_container(deployments[name]), manifests)
        for variable, source in provided.items():
            if not variable.endswith("_ADDRESS") or "LISTEN" in variable:
                continue
            host, _, port = source["value"].partition(":")
            ports = [p["port"] for p in services[host]["spec"]["ports"]]
            assert int(port) in ports, f"{name} {variable}={source['value']}"


def test_deployments_have_probes_and_resources(
    manifests: tuple[Manifest, ...],
) -> None:
    for name, deployment in objects(manifests, "Deployment").items():
        container = only_container(deployment)
        resources = container["resources"]

        assert "readinessProbe" in container, name
        assert "livenessProbe" in container, name
        assert set(resources["requests"]) == {"cpu", "memory"}, name
        assert set(resources["limits"]) == {"cpu", "memory"}, name


def test_grpc_services_probe_grpc_health(manifests: tuple[Manifest, ...]) -> None:
    deployments = objects(manifests, "Deployment")
    for name in GRPC_SERVICES:
        container = only_container(deployments[name])
        grpc_port = port_named(container, "grpc")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": grpc_port}, (name, probe)


def test_gateway_probes_health_paths(manifests: tuple[Manifest, ...]) -> None:
    container = only_container(objects(manifests, "Deployment")["gateway"])

    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"


def test_workloads_run_restricted(manifests: tuple[Manifest, ...]) -> None:
    workloads = {
        **objects(manifests, "Deployment"),
        **objects(manifests, "Job"),
        **objects(manifests, "StatefulSet"),
    }
    for name, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        container = only_container(workload)
        security = container["securityContext"]
        mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}

        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert "/tmp" in mounts, name


def test_service_selectors_match_workloads(manifests: tuple[Manifest, ...]) -> None:
    pod_labels = [
        workload["spec"]["template"]["metadata"]["labels"]
        for kind in ("Deployment", "StatefulSet")
        for workload in objects(manifests, kind).values()
    ]
    for name, service in objects(manifests, "Service").items():
        selector = service["spec"]["selector"]
        matches = [
            labels for labels in pod_labels if selector.items() <= labels.items()
        ]
        assert len(matches) == 1, f"Service {name} selects {len(matches)} workloads"


def test_deployments_have_autoscaler_and_budget(
    manifests: tuple[Manifest, ...],
) -> None:
    autoscalers = {
        hpa["spec"]["scaleTargetRef"]["name"]
        for hpa in objects(manifests, "HorizontalPodAutoscaler").values()
    }
    budgets = [
        pdb["spec"]["selector"]["matchLabels"]
        for pdb in objects(manifests, "PodDisruptionBudget").values()
    ]
    for name, deployment in objects(manifests, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covered = [b for b in budgets if b.items() <= labels.items()]

        assert name in autoscalers, name
        assert len(covered) == 1, name


def test_replica_counts_per_overlay() -> None:
    base = objects(render("base"), "Deployment")
    dev = objects(render("overlays/dev"), "Deployment")
    prod = objects(render("overlays/prod"), "Deployment")

    assert {d["spec"]["replicas"] for d in base.values()} == {2}
    assert {d["spec"]["replicas"] for d in dev.values()} == {1}
    assert min(d["spec"]["replicas"] for d in prod.values()) >= 2


def test_ingress_is_denied_by_default(manifests: tuple[Manifest, ...]) -> None:
    deny = objects(manifests, "NetworkPolicy")["default-deny-ingress"]["spec"]

    assert deny["podSelector"] == {}
    assert deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny


def test_services_admit_only_product_callers(
    manifests: tuple[Manifest, ...],
) -> None:
    policies = objects(manifests, "NetworkPolicy")
    for name in GRPC_SERVICES:
        policy = policies[name]["spec"]
        grpc_rule, metrics_rule = policy["ingress"]
        callers = grpc_rule["from"][0]["podSelector"]["matchExpressions"][0]

        assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        assert grpc_rule["ports"] == [{"port": "grpc"}]
        assert len(grpc_rule["from"]) == 1
        assert callers["key"] == "app.kubernetes.io/component"
        assert sorted(callers["values"]) == ["gateway", "grpc-service"]
        assert metrics_rule["ports"] == [{"port": "metrics"}]
        assert "namespaceSelector" in metrics_rule["from"][0]
    assert "gateway" in policies


def test_migration_job_is_named_per_release(manifests: tuple[Manifest, ...]) -> None:
    jobs = objects(manifests, "Job")
    (name, job), *others = jobs.items()
    container = only_container(job)
    provided = container_env(container, manifests)

    assert others == []
    assert container["args"] == ["python", "-m", "services.common.migrate"]
    assert name == f"migrate-{image_tag(container['image'])}"
    assert "secretKeyRef" in provided["DATABASE_URL"]


def known_metric_names() -> set[str]:
    """Return every sample name the metrics modules expose, `up` included."""
    pattern = re.compile(
        r"\b(Counter|Gauge|Histogram)(MetricFamily)?\(\s*\"([a-z_:]+)\""
    )
    names = {"up"}
    for path in METRICS_MODULES:
        for kind, _, name in pattern.findall(path.read_text()):
            if kind == "Counter":
                names.add(name if name.endswith("_total") else f"{name}_total")
            elif kind == "Histogram":
                names.update(
                    f"{name}_{suffix}" for suffix in ("bucket", "sum", "count")
                )
            else:
                names.add(name)
    return names


def metric_names_in(expression: str) -> set[str]:
    """Return the metric names a PromQL expression selects."""
    for pattern in (r"\{[^}]*\}", r"\[[^\]]*\]", r"\b(by|without)\s*\([^)]*\)"):
        expression = re.sub(pattern, " ", expression)
    words = set(re.findall(r"(?<![\w.])[a-zA-Z_:][\w:]*", expression))
    return words - PROMQL_WORDS


def test_alert_rules_use_exposed_metrics() -> None:
    configmaps = objects(render("base"), "ConfigMap")
    rules = yaml.safe_load(configmaps["opsdesk-prometheus"]["data"]["rules.yaml"])
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    used = set().union(*(metric_names_in(expr) for expr in expressions))
    known = known_metric_names()

    assert used - known == set()
    for figure in (
        "connector_errors",
        "connector_sync_lag_seconds",
        "reconciliation_completeness",
        "rag_chunks",
        "lightrag_queries_total",
    ):
        assert figure in used, figure
