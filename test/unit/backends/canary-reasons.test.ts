// A rollback's reason names the checks that failed, and apart from them those that only
// lacked data: a Prometheus metric with no series never reads as a failure.
import { describe, expect, it } from 'vitest';
import { checksBehind, failureReason } from '../../../src/backends/canary-analyzer.js';
import type { CanaryAnalysis } from '../../../tools/ports.js';

const check = (name: string, passed: boolean, phase?: string) => ({
  check: name,
  canary: 0,
  stable: 0,
  threshold: 0,
  passed,
  ...(phase ? { phase } : {}),
});

describe('the reason of a failed canary analysis', () => {
  it('names failed checks, and no-data checks apart', () => {
    const analysis: CanaryAnalysis = {
      at: '2026-12-06T03:00:00.000Z',
      trafficPercent: 10,
      passed: false,
      checks: [
        check('error-rate', false, 'Failed'),
        check('p99-latency', true, 'Successful'),
        check('score-shift', false, 'Inconclusive'),
        check('query-broke', false, 'Error'),
      ],
    };
    expect(checksBehind(analysis)).toEqual({ failed: ['error-rate', 'query-broke'], unmeasured: ['score-shift'] });
    expect(failureReason(analysis)).toBe('error-rate, query-broke (no data for score-shift)');
  });

  it("counts every check of the lab's own analysis that did not pass as failed", () => {
    const analysis: CanaryAnalysis = {
      at: '2026-12-06T03:00:00.000Z',
      trafficPercent: 5,
      passed: false,
      checks: [check('error_rate', false), check('score_psi', true)],
    };
    expect(failureReason(analysis)).toBe('error_rate');
    // Unless the verdict says they lacked evidence (too little traffic): then nothing failed.
    expect(checksBehind({ ...analysis, verdict: 'inconclusive' })).toEqual({ failed: [], unmeasured: ['error_rate'] });
  });
});
