// azd's "resource exists" pattern: on re-provisioning, keep the image that `azd deploy` last put
// on the Container App instead of resetting it to the placeholder.

@description('Whether the Container App already exists (azd sets SERVICE_RELAY_RESOURCE_EXISTS).')
param exists bool

@description('Name of the Container App.')
param name string

resource existingApp 'Microsoft.App/containerApps@2024-03-01' existing = if (exists) {
  name: name
}

output containers array = exists ? existingApp.properties.template.containers : []
