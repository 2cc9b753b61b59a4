// Azure Container Registry holding the relay image. Admin user disabled: the Container App pulls
// with its system-assigned managed identity (AcrPull role, granted in relay-app.bicep) and azd
// pushes with the signed-in developer's Entra identity.

@description('Registry name: 5-50 alphanumeric characters, globally unique.')
@minLength(5)
@maxLength(50)
param name string

@description('Location of the registry.')
param location string

@description('Tags for the registry.')
param tags object = {}

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
@description('Registry SKU. Basic is enough for one image pulled by a few replicas; Premium adds private endpoints, geo-replication and content trust.')
param sku string = 'Basic'

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_139: azd and the Container Apps environment (no VNet here) reach the registry over its public endpoint; pushes and pulls are Entra-authenticated (admin user disabled, anonymous pull off). Private endpoints need Premium and a VNet-integrated environment.
  // checkov:skip=CKV_AZURE_163: image vulnerability scanning is Microsoft Defender for Containers, a subscription-level plan, not a registry property.
  // checkov:skip=CKV_AZURE_166: quarantine needs the Premium SKU and an external scanner that releases images.
  // checkov:skip=CKV_AZURE_233: zone redundancy needs the Premium SKU; a registry outage only blocks new pulls, running replicas keep their image.
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

output id string = registry.id
output name string = registry.name
output loginServer string = registry.properties.loginServer
