// KServe as the deployer: canaries through an InferenceService's canaryTrafficPercent.
export {
  createKServeDeployer,
  parseKServeDeployerSettings,
  type KServeDeployer,
  type KServeDeployerDeps,
} from './deployer.js';
export { createInferenceServiceApi, loadKubeConfig, type InferenceService } from './inference-service-api.js';
export { ANNOTATION } from './inference-service-state.js';
export {
  inferenceServiceTargetSchema,
  kserveDeployerSettingsSchema,
  type InferenceServiceTarget,
  type KServeDeployerSettings,
  type KServeDeployerSettingsInput,
} from './settings.js';
