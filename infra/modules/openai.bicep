// Azure OpenAI account with a realtime model deployment. Key authentication is disabled: the relay
// authenticates with its managed identity (role "Cognitive Services OpenAI User", granted in
// relay-app.bicep), so there is no API key to store, leak or rotate.

@description('Account name; also the custom subdomain (https://<name>.openai.azure.com/), required for Entra ID authentication.')
@minLength(2)
@maxLength(64)
param name string

@description('Location of the account: a region where the realtime model is offered.')
param location string

@description('Tags for the account.')
param tags object = {}

@description('Name of the model deployment (the relay\'s AZURE_OPENAI_DEPLOYMENT).')
param deploymentName string

@description('Realtime model name, e.g. gpt-realtime.')
param modelName string

@description('Realtime model version, e.g. 2025-08-28.')
param modelVersion string

@description('Deployment SKU, e.g. GlobalStandard.')
param deploymentSku string

@minValue(1)
@description('Deployment capacity in the SKU\'s units (for GlobalStandard: thousands of tokens per minute); bounded by the subscription\'s quota.')
param deploymentCapacity int

@description('Optional: object id of a person or group that also gets "Cognitive Services OpenAI User" on the account, to run the relay locally against it with `az login` (DefaultAzureCredential).')
param principalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
@description('Type of principalId.')
param principalType string = 'User'

// Built-in role "Cognitive Services OpenAI User": call inference APIs (including the realtime
// WebSocket) with an Entra token; no access to keys or management operations.
var cognitiveServicesOpenAiUserRoleId = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  // checkov:skip=CKV_AZURE_134: the relay runs in a Container Apps environment without VNet integration and reaches the account over its public endpoint; access is Entra-only (disableLocalAuth) and limited by RBAC. Private endpoints are a documented hardening step (docs/deploy.md).
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

resource deployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: deploymentName
  sku: {
    name: deploymentSku
    capacity: deploymentCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: modelName
      version: modelVersion
    }
    versionUpgradeOption: 'OnceCurrentVersionExpired'
  }
}

resource developerOpenAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(account.id, principalId, cognitiveServicesOpenAiUserRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesOpenAiUserRoleId)
    principalId: principalId
    principalType: principalType
  }
}

output id string = account.id
output name string = account.name
output endpoint string = account.properties.endpoint
output deploymentName string = deployment.name
