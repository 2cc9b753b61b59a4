"""Structure of the Bicep deployment (infra/), read with pycep: no Bicep compiler is available here.

These tests pin what the relay needs from its platform: a system-assigned identity with exactly the
two roles it uses, ingress to port 8080 with the relay's probes, HTTP scaling, its environment and
secrets, an OpenAI account without keys, and the outputs azd reads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from bicep_model import (
    ACR_PULL,
    COGNITIVE_SERVICES_OPENAI_USER,
    INFRA,
    MAIN,
    MODULES,
    accessor,
    bicep_files,
    body,
    decorators,
    function,
    list_items,
    module,
    only,
    parse,
    resolve,
    resources,
)

EXPECTED_FILES = {
    "main.bicep",
    "modules/container-apps-environment.bicep",
    "modules/fetch-container-image.bicep",
    "modules/monitoring.bicep",
    "modules/openai.bicep",
    "modules/registry.bicep",
    "modules/relay-app.bicep",
}

# Resource type -> API version the templates must use (see docs/deploy.md for the choice).
API_VERSIONS = {
    "Microsoft.Resources/resourceGroups": "2022-09-01",
    "Microsoft.OperationalInsights/workspaces": "2022-10-01",
    "Microsoft.CognitiveServices/accounts": "2024-10-01",
    "Microsoft.CognitiveServices/accounts/deployments": "2024-10-01",
    "Microsoft.ContainerRegistry/registries": "2023-07-01",
    "Microsoft.App/managedEnvironments": "2024-03-01",
    "Microsoft.App/containerApps": "2024-03-01",
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
}

RELAY_PORT = 8080


def relay_app() -> tuple[dict, dict]:
    """(relay-app module model, body of its Container App resource)."""
    model = module("relay-app")
    _, app = only(resources(model, "Microsoft.App/containerApps"))
    return model, body(app)


def relay_container() -> tuple[dict, dict]:
    model, app = relay_app()
    containers = app["properties"]["template"]["containers"]
    assert len(containers) == 1
    assert containers[0]["name"] == "relay"
    return model, containers[0]


def relay_env() -> dict[str, tuple[dict, bool]]:
    """The relay container's env vars: name -> (entry, present only conditionally)."""
    model, container = relay_container()
    env: dict[str, tuple[dict, bool]] = {}
    for item, conditional in list_items(model, container["env"]):
        assert item["name"] not in env, f"duplicate env var {item['name']}"
        env[item["name"]] = (item, conditional)
    return env


# --- files and parsing -------------------------------------------------------------------------


def test_the_expected_bicep_files_exist() -> None:
    found = {p.relative_to(INFRA).as_posix() for p in bicep_files()}
    assert found == EXPECTED_FILES


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_every_bicep_file_parses(path: Path) -> None:
    model = parse(path)
    assert model["resources"], f"{path.name} declares no resources"
    assert "outputs" in model or path.name == "main.bicep"


def test_resources_use_the_chosen_api_versions() -> None:
    seen = set()
    for path in bicep_files():
        for name, res in parse(path).get("resources", {}).items():
            assert res["type"] in API_VERSIONS, f"{path.name}:{name} has unexpected type"
            assert res["api_version"] == API_VERSIONS[res["type"]], f"{path.name}:{name}"
            seen.add(res["type"])
    assert seen == set(API_VERSIONS)


# --- main.bicep: azd shape and module wiring ---------------------------------------------------


def test_main_is_an_azd_subscription_deployment() -> None:
    model = parse(MAIN)
    assert model["globals"]["scope"]["value"] == "subscription"
    params = model["parameters"]
    for name in ("environmentName", "location"):
        assert params[name]["type"] == "string"
        assert params[name]["default"] is None, f"{name} must come from azd"
    _, rg = only(resources(model, "Microsoft.Resources/resourceGroups"))
    assert rg["config"]["name"] == "rg-${environmentName}"
    assert model["variables"]["tags"]["value"] == {"'azd-env-name'": "environmentName"}
    relay = model["modules"]["relay"]["config"]["params"]
    tags = function(relay["tags"], "union")
    assert tags is not None and tags["arg_2"] == {"'azd-service-name'": "relay"}


def test_every_module_call_passes_known_and_required_parameters() -> None:
    """What the Bicep compiler would check: module params exist and required ones are set."""
    model = parse(MAIN)
    assert set(model["modules"]) == {
        "monitoring",
        "openAi",
        "registry",
        "containerAppsEnvironment",
        "relayImage",
        "relay",
    }
    for name, mod in model["modules"].items():
        target = (INFRA / mod["detail"]["path"]).resolve()
        assert target.is_file(), f"module {name}: {target} missing"
        declared = parse(target)["parameters"]
        passed = mod["config"]["params"]
        assert set(passed) <= set(declared), f"module {name}: unknown {set(passed) - set(declared)}"
        required = {p for p, spec in declared.items() if spec["default"] is None}
        assert required <= set(passed), f"module {name}: missing {required - set(passed)}"
        assert mod["config"]["scope"] == "rg"


def test_main_and_relay_module_defaults_agree() -> None:
    main = parse(MAIN)["parameters"]
    app = module("relay-app")["parameters"]
    pairs = {
        "minReplicas": "minReplicas",
        "maxReplicas": "maxReplicas",
        "concurrentRequestsPerReplica": "concurrentRequestsPerReplica",
        "maxSessionsPerReplica": "maxSessionsPerReplica",
        "workersPerReplica": "workers",
        "containerCpu": "cpu",
        "containerMemory": "memory",
        "clientAuth": "clientAuth",
        "logLevel": "logLevel",
        "drainGraceSeconds": "drainGraceSeconds",
    }
    for main_name, app_name in pairs.items():
        assert main[main_name]["default"] == app[app_name]["default"], main_name


# --- the relay Container App -------------------------------------------------------------------


def test_container_app_has_a_system_assigned_identity() -> None:
    _, app = relay_app()
    assert app["identity"] == {"type": "SystemAssigned"}


def test_registry_is_pulled_with_the_system_identity() -> None:
    model, app = relay_app()
    (registry,) = app["properties"]["configuration"]["registries"]
    assert registry["identity"] == "system"
    assert accessor(registry["server"]) == ["registry", "properties", "loginServer"]
    assert "passwordSecretRef" not in registry and "username" not in registry


def test_ingress_is_external_to_port_8080() -> None:
    model, app = relay_app()
    ingress = app["properties"]["configuration"]["ingress"]
    assert ingress["external"] is True
    assert resolve(model, ingress["targetPort"]) == RELAY_PORT
    assert ingress["transport"] in ("auto", "http")
    assert ingress["allowInsecure"] is False
    # One session is one WebSocket on one replica: no session affinity.
    assert ingress["stickySessions"] == {"affinity": "none"}


def test_probes_hit_healthz_and_readyz() -> None:
    model, container = relay_container()
    probes = {p["type"]: p for p in container["probes"]}
    assert set(probes) == {"Startup", "Liveness", "Readiness"}
    expected = {"Startup": "/healthz", "Liveness": "/healthz", "Readiness": "/readyz"}
    for kind, path in expected.items():
        assert probes[kind]["httpGet"]["path"] == path, kind
        assert resolve(model, probes[kind]["httpGet"]["port"]) == RELAY_PORT, kind
    assert probes["Readiness"]["periodSeconds"] <= 5  # a draining replica leaves rotation fast


def test_scale_rule_is_http_concurrency_with_replica_parameters() -> None:
    model, app = relay_app()
    scale = app["properties"]["template"]["scale"]
    assert scale["minReplicas"] == "minReplicas"
    assert scale["maxReplicas"] == "maxReplicas"
    (rule,) = scale["rules"]
    concurrent = function(rule["http"]["metadata"]["concurrentRequests"], "string")
    assert concurrent == {"value_to_convert": "concurrentRequestsPerReplica"}
    params = model["parameters"]
    assert params["minReplicas"]["type"] == "int"
    assert params["maxReplicas"]["type"] == "int"
    assert params["minReplicas"]["default"] == 1
    assert params["maxReplicas"]["default"] == 10
    assert decorators(params["minReplicas"])["min_value"] == 0
    assert decorators(params["maxReplicas"])["min_value"] == 1
    # Scale out before a replica hits its hard session cap.
    assert (
        params["concurrentRequestsPerReplica"]["default"]
        < (params["maxSessionsPerReplica"]["default"])
    )
    main = parse(MAIN)["parameters"]
    for name in ("minReplicas", "maxReplicas", "concurrentRequestsPerReplica"):
        assert main[name]["type"] == "int", name


def test_termination_grace_exceeds_the_drain_grace() -> None:
    _, app = relay_app()
    grace = app["properties"]["template"]["terminationGracePeriodSeconds"]
    assert grace["operator"]["type"] == "add"
    operands = grace["operator"]["operands"]
    assert operands["operand_1"] == "drainGraceSeconds"
    assert operands["operand_2"] >= 10


def test_env_vars_configure_the_azure_backend() -> None:
    model, _ = relay_app()
    env = relay_env()
    required = {
        "BACKEND",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_DEPLOYMENT",
        "ALLOWED_ORIGINS",
        "HOST",
        "PORT",
        "CLIENT_AUTH",
        "TICKET_SECRET",
        "STATIC_DIR",
        "WORKERS",
        "MAX_SESSIONS",
        "DRAIN_GRACE_S",
        "TRUST_X_FORWARDED_FOR",
    }
    assert required <= set(env)
    unconditional = {name for name, (_, conditional) in env.items() if not conditional}
    assert required <= unconditional
    value = {name: item.get("value") for name, (item, _) in env.items()}
    assert value["BACKEND"] == "azure"
    assert value["HOST"] == "0.0.0.0"
    port = function(value["PORT"], "string")
    assert port is not None and resolve(model, port["value_to_convert"]) == RELAY_PORT
    assert value["AZURE_OPENAI_ENDPOINT"] == "openAiEndpoint"
    assert value["AZURE_OPENAI_DEPLOYMENT"] == "openAiDeploymentName"
    assert value["STATIC_DIR"] == "/app/frontend/dist"
    assert value["TRUST_X_FORWARDED_FOR"] == "1"
    # The relay authenticates to Azure OpenAI with its managed identity only.
    assert "AZURE_OPENAI_API_KEY" not in env
    assert "AZURE_CLIENT_ID" not in env  # system-assigned: no client id needed
    # Empty ALLOWED_ORIGINS falls back to the app's own https origin, never to "*".
    origins = resolve(model, value["ALLOWED_ORIGINS"])
    operands = origins["operator"]["operands"]
    assert operands["true_value"] == "https://${fqdn}"
    assert model["variables"]["fqdn"]["value"] == "${name}.${containerAppsEnvironmentDomain}"


def test_client_auth_cannot_be_none_on_the_public_ingress() -> None:
    for model in (module("relay-app"), parse(MAIN)):
        client_auth = model["parameters"]["clientAuth"]
        assert decorators(client_auth)["allowed"] == ["ticket", "token"]
        assert client_auth["default"] == "ticket"


def test_secrets_are_container_app_secrets_referenced_by_secret_ref() -> None:
    model, app = relay_app()
    secrets = {
        item["name"]: (item, cond)
        for item, cond in list_items(model, app["properties"]["configuration"]["secrets"])
    }
    assert secrets["ticket-secret"] == ({"name": "ticket-secret", "value": "ticketSecret"}, False)
    assert secrets["client-tokens"] == ({"name": "client-tokens", "value": "clientTokens"}, True)
    env = relay_env()
    assert env["TICKET_SECRET"] == ({"name": "TICKET_SECRET", "secretRef": "ticket-secret"}, False)
    assert env["CLIENT_TOKENS"] == ({"name": "CLIENT_TOKENS", "secretRef": "client-tokens"}, True)
    for name, (item, _) in env.items():
        if "secretRef" in item:
            assert item["secretRef"] in secrets, name
        # No secure parameter is ever put in a plain env value.
        assert item.get("value") not in ("ticketSecret", "clientTokens"), name
    # The client-tokens secret and its env var hang on the same condition.
    token_secret = resolve(model, "clientTokenSecrets")["operator"]["operands"]["condition"]
    token_env = resolve(model, "clientTokenEnv")["operator"]["operands"]["condition"]
    assert token_secret == token_env


@pytest.mark.parametrize("path", [MAIN, MODULES / "relay-app.bicep"], ids=["main", "relay-app"])
def test_secret_parameters_are_secure(path: Path) -> None:
    params = parse(path)["parameters"]
    for name in ("ticketSecret", "clientTokens"):
        assert "secure" in decorators(params[name]), name
    ticket = params["ticketSecret"]
    assert ticket["default"] is None
    assert decorators(ticket)["min_length"] == 32  # the relay's MIN_TICKET_SECRET_BYTES


def test_azd_generates_the_ticket_secret_when_unset() -> None:
    metadata = decorators(parse(MAIN)["parameters"]["ticketSecret"])["metadata"]
    assert metadata["azd"]["type"] == "generate"
    assert metadata["azd"]["config"]["length"] >= 32


# --- role assignments --------------------------------------------------------------------------


def role_assignment(role_id: str) -> tuple[dict, dict]:
    model = module("relay-app")
    matches = {}
    for name, res in resources(model, "Microsoft.Authorization/roleAssignments").items():
        config = body(res)
        role = function(config["properties"]["roleDefinitionId"], "subscription_resource_id")
        assert role is not None, f"{name}: roleDefinitionId must use subscriptionResourceId()"
        assert role["resource_type"] == "Microsoft.Authorization/roleDefinitions"
        if resolve(model, role["resource_name_1"]) == role_id:
            matches[name] = config
    _, config = only(matches)
    return model, config


def assert_assigned_to_the_app(model: dict, config: dict, scope_type: str) -> None:
    props = config["properties"]
    assert accessor(props["principalId"]) == ["app", "identity", "principalId"]
    assert props["principalType"] == "ServicePrincipal"
    scope = config["scope"]
    existing = resources(model, scope_type, existing=True)
    assert scope in existing, f"scope {scope!r} is not the existing {scope_type}"
    guid = function(config["name"], "guid")
    assert guid is not None, "role assignment names must be guid(...)"
    assert accessor(guid["base_string"]) == [scope, "id"]
    assert accessor(guid["extra_string_1"]) == ["app", "id"]


def test_app_identity_is_openai_user_on_the_openai_account() -> None:
    model, config = role_assignment(COGNITIVE_SERVICES_OPENAI_USER)
    assert_assigned_to_the_app(model, config, "Microsoft.CognitiveServices/accounts")
    _, account = only(resources(model, "Microsoft.CognitiveServices/accounts", existing=True))
    assert account["config"]["name"] == "openAiAccountName"


def test_app_identity_has_acr_pull_on_the_registry() -> None:
    model, config = role_assignment(ACR_PULL)
    assert_assigned_to_the_app(model, config, "Microsoft.ContainerRegistry/registries")


def test_the_app_gets_no_other_role() -> None:
    model = module("relay-app")
    assert len(resources(model, "Microsoft.Authorization/roleAssignments")) == 2


def test_optional_developer_role_is_openai_user_only() -> None:
    model = module("openai")
    _, res = only(resources(model, "Microsoft.Authorization/roleAssignments"))
    assert "condition" in res["config"], "the developer's role must be optional"
    config = body(res)
    role = function(config["properties"]["roleDefinitionId"], "subscription_resource_id")
    assert resolve(model, role["resource_name_1"]) == COGNITIVE_SERVICES_OPENAI_USER
    assert config["scope"] == "account"


# --- Azure OpenAI, registry, environment -------------------------------------------------------


def test_openai_account_is_keyless_with_identity_and_subdomain() -> None:
    model = module("openai")
    _, account = only(resources(model, "Microsoft.CognitiveServices/accounts"))
    config = account["config"]
    assert config["kind"] == "OpenAI"
    assert config["identity"] == {"type": "SystemAssigned"}
    assert config["properties"]["disableLocalAuth"] is True
    assert config["properties"]["customSubDomainName"] == "name"


def test_realtime_deployment_is_parameterised() -> None:
    model = module("openai")
    _, deployment = only(resources(model, "Microsoft.CognitiveServices/accounts/deployments"))
    config = deployment["config"]
    assert config["parent"] == "account"
    assert config["sku"] == {"name": "deploymentSku", "capacity": "deploymentCapacity"}
    assert config["properties"]["model"] == {
        "format": "OpenAI",
        "name": "modelName",
        "version": "modelVersion",
    }
    main = parse(MAIN)
    params = main["parameters"]
    assert params["realtimeModelName"]["default"] == "gpt-realtime"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", params["realtimeModelVersion"]["default"])
    assert params["realtimeDeploymentCapacity"]["type"] == "int"
    passed = main["modules"]["openAi"]["config"]["params"]
    assert passed["modelName"] == "realtimeModelName"
    assert passed["modelVersion"] == "realtimeModelVersion"
    assert passed["deploymentCapacity"] == "realtimeDeploymentCapacity"
    assert passed["deploymentName"] == "realtimeDeploymentName"


def test_registry_admin_user_is_disabled() -> None:
    _, registry = only(resources(module("registry"), "Microsoft.ContainerRegistry/registries"))
    assert registry["config"]["properties"]["adminUserEnabled"] is False
    assert registry["config"]["properties"]["anonymousPullEnabled"] is False


def test_environment_sends_logs_to_log_analytics() -> None:
    model = module("container-apps-environment")
    _, env = only(resources(model, "Microsoft.App/managedEnvironments"))
    logs = env["config"]["properties"]["appLogsConfiguration"]
    assert logs["destination"] == "log-analytics"
    workspace, _ = only(resources(model, "Microsoft.OperationalInsights/workspaces", existing=True))
    analytics = logs["logAnalyticsConfiguration"]
    assert accessor(analytics["customerId"]) == [workspace, "properties", "customerId"]
    # sharedKey: workspace.listKeys().primarySharedKey (read at deployment, never an output)
    shared_key = analytics["sharedKey"]["operator"]
    assert shared_key["type"] == "property_accessor"
    assert shared_key["operands"]["operand_2"] == "primarySharedKey"
    call = shared_key["operands"]["operand_1"]["operator"]
    assert call == {
        "type": "function_accessor",
        "operands": {"operand_1": workspace, "func_name": "listKeys"},
    }
    passed = parse(MAIN)["modules"]["containerAppsEnvironment"]["config"]["params"]
    assert accessor(passed["logAnalyticsWorkspaceName"]) == ["monitoring", "outputs", "name"]


# --- outputs -----------------------------------------------------------------------------------


def test_relay_module_outputs_https_and_wss_urls() -> None:
    outputs = module("relay-app")["outputs"]
    assert outputs["uri"]["value"] == "https://${app.properties.configuration.ingress.fqdn}"
    assert (
        outputs["wssUri"]["value"] == "wss://${app.properties.configuration.ingress.fqdn}/realtime"
    )


def test_main_outputs_what_azd_and_operators_need() -> None:
    outputs = parse(MAIN)["outputs"]
    expected = {
        "AZURE_LOCATION": None,
        "AZURE_TENANT_ID": None,
        "AZURE_RESOURCE_GROUP": None,
        "AZURE_CONTAINER_REGISTRY_ENDPOINT": ["registry", "outputs", "loginServer"],
        "AZURE_CONTAINER_ENVIRONMENT_NAME": ["containerAppsEnvironment", "outputs", "name"],
        "AZURE_OPENAI_ENDPOINT": ["openAi", "outputs", "endpoint"],
        "AZURE_OPENAI_DEPLOYMENT": ["openAi", "outputs", "deploymentName"],
        "SERVICE_RELAY_NAME": ["relay", "outputs", "name"],
        "SERVICE_RELAY_URI": ["relay", "outputs", "uri"],
        "RELAY_URL": ["relay", "outputs", "uri"],
        "RELAY_WSS_URL": ["relay", "outputs", "wssUri"],
    }
    assert set(expected) <= set(outputs)
    for name, path in expected.items():
        if path is not None:
            assert accessor(outputs[name]["value"]) == path, name


# --- azd parameters file -----------------------------------------------------------------------


def test_parameters_file_maps_azd_environment() -> None:
    data = json.loads((INFRA / "main.parameters.json").read_text())
    params = data["parameters"]
    assert params["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert params["location"]["value"] == "${AZURE_LOCATION}"
    assert params["relayExists"]["value"] == "${SERVICE_RELAY_RESOURCE_EXISTS=false}"
    declared = parse(MAIN)["parameters"]
    assert set(params) <= set(declared), set(params) - set(declared)
    # Every required parameter is either mapped or generated by azd.
    for name, spec in declared.items():
        if spec["default"] is None:
            generated = decorators(spec).get("metadata", {}).get("azd", {}).get("type")
            assert name in params or generated == "generate", name
