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

/**
 * A verdict's checks in words, apart: those that failed, and those that could not be
 * measured (a Prometheus metric with no data is `Inconclusive`), so a reason never says a
 * check failed that only lacked data. A check without a phase (the lab's own, or an
 * analyzer's that keeps none) is read by the verdict: inconclusive means it lacked evidence.
 */
export function checksBehind(analysis: CanaryAnalysis & { verdict?: AnalysisOutcome['verdict'] }): {
  failed: string[];
  unmeasured: string[];
} {
  const lacked = (c: CanaryAnalysis['checks'][number]) => {
    const phase = (c as { phase?: string }).phase;
    return phase === undefined ? analysis.verdict === 'inconclusive' : phase === 'Inconclusive';
  };
  const notPassed = analysis.checks.filter((c) => !c.passed);
  return {
    failed: notPassed.filter((c) => !lacked(c)).map((c) => c.check),
    unmeasured: notPassed.filter(lacked).map((c) => c.check),
  };
}

/** "error-rate" or "error-rate (no data for score-shift)": what a failed analysis rolled back on. */
export function failureReason(analysis: CanaryAnalysis): string {
  const { failed, unmeasured } = checksBehind(analysis);
  return `${failed.join(', ')}${unmeasured.length > 0 ? ` (no data for ${unmeasured.join(', ')})` : ''}`;
}
