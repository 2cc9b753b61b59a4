"""azure.yaml (the azd project) and the Kubernetes example in docs/deploy.md."""

from __future__ import annotations

import re
from typing import Any

import yaml
from bicep_model import INFRA, REPO, parse

DEPLOY_DOC = REPO / "docs" / "deploy.md"


def azure_yaml() -> dict[str, Any]:
    return yaml.safe_load((REPO / "azure.yaml").read_text())  # type: ignore[no-any-return]


def test_azure_yaml_declares_the_relay_container_app() -> None:
    project = azure_yaml()
    assert project["name"] == "trio-relay"
    assert project["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert (REPO / project["infra"]["path"] / f"{project['infra']['module']}.bicep").is_file()
    relay = project["services"]["relay"]
    assert relay["host"] == "containerapp"
    assert relay["language"] == "python"
    assert relay["project"] == "."
    assert (REPO / relay["docker"]["path"]).resolve() == (REPO / "Dockerfile").resolve()
    assert relay["docker"]["context"] == "."


def test_service_name_matches_the_bicep_tag_and_outputs() -> None:
    """azd finds the app by its azd-service-name tag and reads SERVICE_<NAME>_* outputs."""
    (service,) = azure_yaml()["services"]
    main = parse(INFRA / "main.bicep")
    tags = main["modules"][service]["config"]["params"]["tags"]["function"]["parameters"]
    assert tags["arg_2"] == {"'azd-service-name'": service}
    upper = service.upper()
    assert {f"SERVICE_{upper}_NAME", f"SERVICE_{upper}_URI"} <= set(main["outputs"])
    assert f"{service}Exists" in main["parameters"]


def kubernetes_manifests() -> list[dict[str, Any]]:
    text = DEPLOY_DOC.read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    assert blocks, "docs/deploy.md has no yaml example"
    return [doc for block in blocks for doc in yaml.safe_load_all(block) if doc]


def test_kubernetes_example_probes_and_grace_period() -> None:
    manifests = {m["kind"]: m for m in kubernetes_manifests()}
    assert {"Deployment", "Service", "Secret"} <= set(manifests)
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    drain = float(env["DRAIN_GRACE_S"]["value"])
    assert pod["terminationGracePeriodSeconds"] > drain
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert env["BACKEND"]["value"] == "azure"
    assert env["CLIENT_AUTH"]["value"] in ("ticket", "token")
    assert "valueFrom" in env["TICKET_SECRET"]  # from the Secret, not inline
    service = manifests["Service"]["spec"]
    assert service["selector"] == manifests["Deployment"]["spec"]["selector"]["matchLabels"]
    assert service["ports"][0]["targetPort"] == "http"
