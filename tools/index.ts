// The agent's tools. Every caller (LLM, runbook, MCP client, CLI) reaches them only
// through the gate.
import type { AnyTool } from './define-tool.js';
import { checkDataQuality } from './check-data-quality.js';
import { deployCanary } from './deploy-canary.js';
import { deploymentStatus } from './deployment-status.js';
import { deployShadow } from './deploy-shadow.js';
import { endShadow } from './end-shadow.js';
import { registryQuery } from './registry-query.js';
import { rollback } from './rollback.js';
import { triggerRetrain } from './trigger-retrain.js';

export * from './define-tool.js';
export * from './ports.js';
export {
  checkDataQuality,
  deployCanary,
  deploymentStatus,
  deployShadow,
  endShadow,
  registryQuery,
  rollback,
  triggerRetrain,
};
export { describeShadow } from './shadow-words.js';
export { buildServingViews, describeServingView, type ServingView } from './serving-view.js';
export { qualityGateFailures } from './lookups.js';

export const allTools: readonly AnyTool[] = [
  registryQuery,
  triggerRetrain,
  deployCanary,
  deployShadow,
  endShadow,
  rollback,
  checkDataQuality,
  deploymentStatus,
];

export function findTool(name: string): AnyTool | undefined {
  return allTools.find((t) => t.name === name);
}
