// trio-relay on Azure Container Apps, azd-compatible (`azd up`).
//
// Creates one resource group with: a Log Analytics workspace, an Azure OpenAI account (keys
// disabled) with a realtime model deployment, a container registry (admin user disabled), a
// Container Apps environment and the relay Container App, whose system-assigned identity gets
// AcrPull on the registry and "Cognitive Services OpenAI User" on the OpenAI account.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment (AZURE_ENV_NAME): names the resource group and seeds the resource names.')
param environmentName string

@minLength(1)
@description('Primary location for all resources (AZURE_LOCATION).')
param location string

@description('Location of the Azure OpenAI account; empty: the primary location. Realtime models are offered in a few regions only (for example eastus2 or swedencentral): check model availability before choosing.')
param openAiLocation string = ''

@description('Realtime model to deploy.')
param realtimeModelName string = 'gpt-realtime'

@description('Version of the realtime model.')
param realtimeModelVersion string = '2025-08-28'

@description('Name of the model deployment: the relay\'s AZURE_OPENAI_DEPLOYMENT.')
param realtimeDeploymentName string = 'gpt-realtime'

@description('SKU of the model deployment.')
param realtimeDeploymentSku string = 'GlobalStandard'

@minValue(1)
@description('Capacity of the model deployment in the SKU\'s units (GlobalStandard: thousands of tokens per minute), within the subscription\'s quota.')
param realtimeDeploymentCapacity int = 10

@minValue(0)
@maxValue(300)
@description('Minimum relay replicas (0 allows scale to zero; the first session then waits for a cold start).')
param minReplicas int = 1

@minValue(1)
@maxValue(300)
@description('Maximum relay replicas.')
param maxReplicas int = 10

@minValue(1)
@description('HTTP scale rule target: concurrent sessions (WebSocket requests) per replica before scaling out.')
param concurrentRequestsPerReplica int = 40

@minValue(1)
@description('Hard cap on sessions per replica (MAX_SESSIONS).')
param maxSessionsPerReplica int = 100

@minValue(1)
@description('Relay worker processes per replica (WORKERS); match the replica\'s vCPUs.')
param workersPerReplica int = 1

@description('vCPUs per replica.')
param containerCpu string = '0.5'

@description('Memory per replica.')
param containerMemory string = '1Gi'

@description('Comma-separated browser origins allowed to connect (ALLOWED_ORIGINS). Empty: the relay\'s own https origin only.')
param allowedOrigins string = ''

@allowed([
  'ticket'
  'token'
])
@description('Client authentication mode (CLIENT_AUTH).')
param clientAuth string = 'ticket'

@secure()
@minLength(32)
@description('TICKET_SECRET, the HMAC key of client tickets (at least 32 bytes, e.g. `openssl rand -hex 32`). Stored as a Container Apps secret. Left unset, azd generates one once and keeps it in the environment\'s config.')
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 64
      noSpecial: true
    }
  }
})
param ticketSecret string

@secure()
@description('CLIENT_TOKENS for clientAuth=token (comma-separated, each at least 16 characters). Stored as a Container Apps secret.')
param clientTokens string = ''

@allowed([
  'DEBUG'
  'INFO'
  'WARNING'
  'ERROR'
])
@description('Relay log level.')
param logLevel string = 'INFO'

@minValue(0)
@maxValue(3600)
@description('Drain grace period after SIGTERM, seconds (DRAIN_GRACE_S).')
param drainGraceSeconds int = 10

@description('Set by azd (SERVICE_RELAY_RESOURCE_EXISTS): whether the relay Container App already exists, so re-provisioning keeps the deployed image.')
param relayExists bool = false

@description('Optional object id of the developer (AZURE_PRINCIPAL_ID): gets "Cognitive Services OpenAI User" too, to run the relay locally against the account.')
param principalId string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var relayAppName = 'ca-relay-${resourceToken}'
var effectiveOpenAiLocation = empty(openAiLocation) ? location : openAiLocation
// azd's public placeholder image, used until the first `azd deploy` pushes the relay image.
var placeholderImage = 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    name: 'log-${resourceToken}'
    location: location
    tags: tags
  }
}

module openAi 'modules/openai.bicep' = {
  name: 'openai'
  scope: rg
  params: {
    name: 'oai-${resourceToken}'
    location: effectiveOpenAiLocation
    tags: tags
    deploymentName: realtimeDeploymentName
    modelName: realtimeModelName
    modelVersion: realtimeModelVersion
    deploymentSku: realtimeDeploymentSku
    deploymentCapacity: realtimeDeploymentCapacity
    principalId: principalId
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    name: 'cr${resourceToken}'
    location: location
    tags: tags
  }
}

module containerAppsEnvironment 'modules/container-apps-environment.bicep' = {
  name: 'container-apps-environment'
  scope: rg
  params: {
    name: 'cae-${resourceToken}'
    location: location
    tags: tags
    logAnalyticsWorkspaceName: monitoring.outputs.name
  }
}

module relayImage 'modules/fetch-container-image.bicep' = {
  name: 'relay-image'
  scope: rg
  params: {
    exists: relayExists
    name: relayAppName
  }
}

module relay 'modules/relay-app.bicep' = {
  name: 'relay'
  scope: rg
  params: {
    name: relayAppName
    location: location
    tags: union(tags, {
      'azd-service-name': 'relay'
    })
    containerAppsEnvironmentId: containerAppsEnvironment.outputs.id
    containerAppsEnvironmentDomain: containerAppsEnvironment.outputs.defaultDomain
    containerRegistryName: registry.outputs.name
    openAiAccountName: openAi.outputs.name
    openAiEndpoint: openAi.outputs.endpoint
    openAiDeploymentName: openAi.outputs.deploymentName
    image: relayExists ? relayImage.outputs.containers[0].image : placeholderImage
    minReplicas: minReplicas
    maxReplicas: maxReplicas
    concurrentRequestsPerReplica: concurrentRequestsPerReplica
    maxSessionsPerReplica: maxSessionsPerReplica
    workers: workersPerReplica
    cpu: containerCpu
    memory: containerMemory
    allowedOrigins: allowedOrigins
    clientAuth: clientAuth
    ticketSecret: ticketSecret
    clientTokens: clientTokens
    logLevel: logLevel
    drainGraceSeconds: drainGraceSeconds
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_ENVIRONMENT_NAME string = containerAppsEnvironment.outputs.name
output AZURE_LOG_ANALYTICS_WORKSPACE_NAME string = monitoring.outputs.name
output AZURE_OPENAI_NAME string = openAi.outputs.name
output AZURE_OPENAI_ENDPOINT string = openAi.outputs.endpoint
output AZURE_OPENAI_DEPLOYMENT string = openAi.outputs.deploymentName
output SERVICE_RELAY_NAME string = relay.outputs.name
output SERVICE_RELAY_URI string = relay.outputs.uri
output RELAY_URL string = relay.outputs.uri
output RELAY_WSS_URL string = relay.outputs.wssUri
