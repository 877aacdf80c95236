// The MLflow registry as `backends.mlflow` configures it.
import type { MlflowSettings } from '../settings.js';
import { createMlflowClient } from './client.js';
import { createMlflowRegistry, type MlflowRegistry } from './registry.js';

export function openMlflowRegistry(settings: MlflowSettings): MlflowRegistry {
  if (!settings.trackingUri)
    throw new Error('unreachable: the config requires backends.mlflow.trackingUri when the registry is mlflow');
  const client = createMlflowClient({
    trackingUri: settings.trackingUri,
    token: settings.token,
    username: settings.username,
    password: settings.password,
    timeoutMs: settings.timeoutMs,
  });
  return createMlflowRegistry({ client, qualityGates: settings.qualityGates, dataVersionTag: settings.dataVersionTag });
}

export { mlflowLabModels, LAB_MODEL_FILES } from './lab-models.js';
export { createMlflowClient, MlflowRefusal, type MlflowClient, type MlflowConnection } from './client.js';
export { createMlflowRegistry, type MlflowRegistry, type MlflowVersionView, type MlflowLineage } from './registry.js';
