// Log Analytics workspace: the Container Apps environment sends the relay's stdout/stderr
// (structured JSON logs) and system logs here.

@description('Name of the Log Analytics workspace.')
param name string

@description('Location of the workspace.')
param location string

@description('Tags for the workspace.')
param tags object = {}

@minValue(30)
@maxValue(730)
@description('Days the logs are kept.')
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

output id string = workspace.id
output name string = workspace.name
output customerId string = workspace.properties.customerId
