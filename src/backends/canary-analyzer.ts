// The port a deployer that steps canaries itself (KServe) asks between steps: how did the
// canary do against the stable version? Adapters (Prometheus) implement it.
import type { CanaryAnalysis, Environment } from '../../tools/ports.js';

export interface AnalysisTarget {
  model: string;
  environment: Environment;
  canaryVersion: string;
  stableVersion: string;
  /** The canary's share of traffic while it was measured. */
  trafficPercent: number;
}

/**
 * `passed` as on CanaryAnalysis; `verdict` tells a failure (roll back) from a lack of
 * evidence (`inconclusive`: no data, too little traffic), which must never pass.
 */
export type AnalysisOutcome = CanaryAnalysis & { verdict: 'passed' | 'failed' | 'inconclusive' };

export interface CanaryAnalyzer {
  analyse(target: AnalysisTarget, options?: { signal?: AbortSignal }): Promise<AnalysisOutcome>;
}
