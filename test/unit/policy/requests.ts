// Builders for policy requests, so each test states only what it is about.
import { fileURLToPath } from 'node:url';
import { NO_RISK, type Risk, type ToolAnnotations } from '../../../tools/define-tool.js';
import type { PolicyRequest } from '../../../src/policy/index.js';

export const KNOWN_TOOLS = [
  'registry_query',
  'trigger_retrain',
  'deploy_canary',
  'deploy_shadow',
  'end_shadow',
  'rollback',
  'check_data_quality',
];

export const ANNOTATIONS: Record<string, ToolAnnotations> = {
  registry_query: { readOnly: true, destructive: false, idempotent: true, openWorld: false },
  check_data_quality: { readOnly: true, destructive: false, idempotent: true, openWorld: false },
  trigger_retrain: { readOnly: false, destructive: false, idempotent: true, openWorld: true },
  deploy_canary: { readOnly: false, destructive: true, idempotent: true, openWorld: true },
  rollback: { readOnly: false, destructive: true, idempotent: true, openWorld: true },
  deploy_shadow: { readOnly: false, destructive: false, idempotent: true, openWorld: true },
  end_shadow: { readOnly: false, destructive: false, idempotent: true, openWorld: true },
};

/** A shadow as deploy_shadow's risk describes it: no live traffic to the candidate. */
export function shadow(
  environment: 'staging' | 'production',
  mirrorPercent: number,
  risk: Partial<Risk> = {},
): PolicyRequest {
  return request('deploy_shadow', {
    environment,
    input: { model: 'credit-risk', version: '4', environment, mirrorPercent },
    risk,
  });
}

export const DEFAULT_POLICY = fileURLToPath(new URL('../../../policies/default.yaml', import.meta.url));

export function fixture(name: string): string {
  return fileURLToPath(new URL(`../../fixtures/policies/${name}`, import.meta.url));
}

export function request(
  tool: string,
  options: {
    environment?: string;
    risk?: Partial<Risk>;
    input?: Record<string, unknown>;
    principal?: string;
    roles?: string[];
  } = {},
): PolicyRequest {
  const environment = options.environment ?? 'none';
  const annotations = ANNOTATIONS[tool] ?? { readOnly: false, destructive: true, idempotent: false, openWorld: true };
  return {
    principal: { id: options.principal ?? 'agent:test', ...(options.roles ? { roles: options.roles } : {}) },
    tool: { name: tool, ...annotations },
    environment,
    input: options.input ?? {},
    risk: { ...NO_RISK, environment: environment as Risk['environment'], failedQualityGates: [], ...options.risk },
  };
}

export function canary(
  environment: 'staging' | 'production',
  trafficPercent: number,
  risk: Partial<Risk> = {},
): PolicyRequest {
  return request('deploy_canary', {
    environment,
    input: { model: 'credit-risk', version: '4', environment, trafficPercent },
    risk: { trafficPercent, trafficChangePercent: trafficPercent, promotesToFull: trafficPercent >= 100, ...risk },
  });
}
