// The relay Container App, its system-assigned managed identity and the two role assignments that
// identity needs: AcrPull on the registry (image pulls) and "Cognitive Services OpenAI User" on the
// Azure OpenAI account (Entra-authenticated realtime sessions; the account has no keys).

@description('Name of the Container App (at most 32 characters).')
@maxLength(32)
param name string

@description('Location of the Container App.')
param location string

@description('Tags for the Container App (main.bicep adds azd-service-name).')
param tags object = {}

@description('Resource id of the Container Apps managed environment.')
param containerAppsEnvironmentId string

@description('Default domain of the managed environment: the app\'s FQDN is <name>.<defaultDomain>.')
param containerAppsEnvironmentDomain string

@description('Name of the container registry (same resource group).')
param containerRegistryName string

@description('Name of the Azure OpenAI account (same resource group).')
param openAiAccountName string

@description('Endpoint of the Azure OpenAI account, e.g. https://oai-xyz.openai.azure.com/.')
param openAiEndpoint string

@description('Name of the realtime model deployment.')
param openAiDeploymentName string

@description('Container image. azd replaces it at `azd deploy`.')
param image string

@minValue(0)
@maxValue(300)
@description('Minimum number of replicas. 1 keeps a warm replica (no cold start on the first WebSocket); 0 scales to zero when idle.')
param minReplicas int = 1

@minValue(1)
@maxValue(300)
@description('Maximum number of replicas.')
param maxReplicas int = 10

@minValue(1)
@description('HTTP scale rule: concurrent requests per replica before another replica is added. A realtime session is one long-lived WebSocket request, so this is a target number of sessions per replica.')
param concurrentRequestsPerReplica int = 40

@minValue(1)
@description('Hard cap on sessions per replica (MAX_SESSIONS); above it the relay refuses new sessions with close code 1013 (try again later). Keep it above concurrentRequestsPerReplica so scale-out happens first.')
param maxSessionsPerReplica int = 100

@minValue(1)
@description('Relay worker processes per replica (WORKERS). Match the replica\'s vCPUs: Python reports the host\'s cores, not the container\'s CPU quota.')
param workers int = 1

@description('vCPUs per replica (Consumption profile: 0.25 to 4, in steps of 0.25).')
param cpu string = '0.5'

@description('Memory per replica: 2 GiB per vCPU on the Consumption profile.')
param memory string = '1Gi'

@description('Comma-separated browser origins allowed to open sessions (ALLOWED_ORIGINS). Empty: only the app\'s own https origin (the relay serves the frontend).')
param allowedOrigins string = ''

@allowed([
  'ticket'
  'token'
])
@description('Client authentication (CLIENT_AUTH). The relay refuses CLIENT_AUTH=none on a public interface.')
param clientAuth string = 'ticket'

@secure()
@minLength(32)
@description('HMAC secret for signed client tickets (TICKET_SECRET), at least 32 bytes. Used with clientAuth=ticket; harmless otherwise.')
param ticketSecret string

@secure()
@description('Comma-separated static client tokens (CLIENT_TOKENS), each at least 16 characters. Required with clientAuth=token.')
param clientTokens string = ''

@allowed([
  'DEBUG'
  'INFO'
  'WARNING'
  'ERROR'
])
@description('Relay log level (LOG_LEVEL).')
param logLevel string = 'INFO'

@minValue(0)
@maxValue(3600)
@description('Seconds the relay gives live sessions to finish after SIGTERM (DRAIN_GRACE_S).')
param drainGraceSeconds int = 10

// Built-in role ids (stable across tenants).
var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
var cognitiveServicesOpenAiUserRoleId = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

var containerPort = 8080
var fqdn = '${name}.${containerAppsEnvironmentDomain}'
var effectiveAllowedOrigins = empty(allowedOrigins) ? 'https://${fqdn}' : allowedOrigins

// Container Apps rejects empty secret values: the optional client tokens are stored only if set.
var clientTokenSecrets = empty(clientTokens) ? [] : [
  {
    name: 'client-tokens'
    value: clientTokens
  }
]
var clientTokenEnv = empty(clientTokens) ? [] : [
  {
    name: 'CLIENT_TOKENS'
    secretRef: 'client-tokens'
  }
]

var baseEnv = [
  {
    name: 'BACKEND'
    value: 'azure'
  }
  {
    name: 'AZURE_OPENAI_ENDPOINT'
    value: openAiEndpoint
  }
  {
    name: 'AZURE_OPENAI_DEPLOYMENT'
    value: openAiDeploymentName
  }
  {
    name: 'HOST'
    value: '0.0.0.0'
  }
  {
    name: 'PORT'
    value: string(containerPort)
  }
  {
    name: 'WORKERS'
    value: string(workers)
  }
  {
    name: 'LOG_LEVEL'
    value: logLevel
  }
  {
    name: 'ALLOWED_ORIGINS'
    value: effectiveAllowedOrigins
  }
  {
    name: 'CLIENT_AUTH'
    value: clientAuth
  }
  {
    // Container Apps ingress (Envoy) appends the client address to X-Forwarded-For: the
    // per-IP session cap must count browsers, not the ingress.
    name: 'TRUST_X_FORWARDED_FOR'
    value: '1'
  }
  {
    name: 'MAX_SESSIONS'
    value: string(maxSessionsPerReplica)
  }
  {
    name: 'DRAIN_GRACE_S'
    value: string(drainGraceSeconds)
  }
  {
    name: 'STATIC_DIR'
    value: '/app/frontend/dist'
  }
  {
    name: 'TICKET_SECRET'
    secretRef: 'ticket-secret'
  }
]

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: containerRegistryName
}

resource openAiAccount 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: openAiAccountName
}

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    environmentId: containerAppsEnvironmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: containerPort
        // WebSockets are plain HTTP/1.1 upgrades: the http ingress carries them.
        transport: 'auto'
        allowInsecure: false
        // A session is one WebSocket, which stays on the replica that accepted it: no affinity needed.
        stickySessions: {
          affinity: 'none'
        }
        traffic: [
          {
            latestRevision: true
            weight: 100
          }
        ]
      }
      registries: [
        {
          server: registry.properties.loginServer
          identity: 'system'
        }
      ]
      secrets: concat([
        {
          name: 'ticket-secret'
          value: ticketSecret
        }
      ], clientTokenSecrets)
    }
    template: {
      // SIGTERM -> the relay tells clients, waits DRAIN_GRACE_S, closes with 1001; then exits.
      terminationGracePeriodSeconds: drainGraceSeconds + 20
      containers: [
        {
          name: 'relay'
          image: image
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          env: concat(baseEnv, clientTokenEnv)
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: containerPort
              }
              periodSeconds: 2
              failureThreshold: 30
              timeoutSeconds: 2
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: containerPort
              }
              periodSeconds: 10
              failureThreshold: 3
              timeoutSeconds: 3
            }
            {
              // 503 while draining: the ingress stops sending new sessions to this replica.
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: containerPort
              }
              periodSeconds: 5
              failureThreshold: 2
              timeoutSeconds: 3
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'http-concurrent-sessions'
            http: {
              metadata: {
                concurrentRequests: string(concurrentRequestsPerReplica)
              }
            }
          }
        ]
      }
    }
  }
}

resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, app.id, acrPullRoleId)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource openAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(openAiAccount.id, app.id, cognitiveServicesOpenAiUserRoleId)
  scope: openAiAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesOpenAiUserRoleId)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = app.name
output fqdn string = app.properties.configuration.ingress.fqdn
output uri string = 'https://${app.properties.configuration.ingress.fqdn}'
output wssUri string = 'wss://${app.properties.configuration.ingress.fqdn}/realtime'
output principalId string = app.identity.principalId
