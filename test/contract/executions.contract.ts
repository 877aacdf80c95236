// The Executions contract: every adapter (memory, files, Redis) passes the same suite.
import { describe, expect, it } from 'vitest';
import type { ExecutionRecord, Executions } from '../../src/gate/index.js';
import { NO_RISK } from '../../tools/index.js';

let n = 0;
export function sampleRecord(overrides: Partial<ExecutionRecord> = {}): ExecutionRecord {
  n += 1;
  return {
    key: `run_contract_${process.pid}_${n}:call_1`,
    runId: `run_contract_${process.pid}_${n}`,
    callId: 'call_1',
    principal: { id: 'agent:alertmanager', roles: [] },
    tool: 'rollback',
    argsHash: 'b'.repeat(64),
    decision: {
      effect: 'allow',
      ruleId: 'rollback-always',
      reason: 'rolling back is always allowed',
      policy: 'default',
    },
    risk: { ...NO_RISK, environment: 'production' },
    approvalId: null,
    takenAt: '2026-12-02T07:00:00.000Z',
    end: null,
    ...overrides,
  };
}

export function executionsContract(name: string, open: () => Promise<Executions>): void {
  describe(`Executions contract: ${name}`, () => {
    it('lets the first taker have a key and shows later takers its record, keeping the first', async () => {
      const executions = await open();
      const first = sampleRecord();
      expect(await executions.take(first)).toBeNull();
      const again = { ...first, callId: 'call_other', takenAt: '2026-12-02T08:00:00.000Z' };
      expect(await executions.take(again)).toEqual(first);
      expect(await executions.find(first.key)).toEqual(first);
    });

    it('lets exactly one of many concurrent takers have a key', async () => {
      const executions = await open();
      const record = sampleRecord();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => executions.take({ ...record, callId: `call_${i}` })),
      );
      expect(results.filter((r) => r === null)).toHaveLength(1);
      const winner = await executions.find(record.key);
      expect(results.filter((r) => r !== null).every((r) => r!.callId === winner!.callId)).toBe(true);
    });

    it('keeps how the call ended with its record', async () => {
      const executions = await open();
      const record = sampleRecord();
      await executions.take(record);
      await executions.finish(record.key, {
        status: 'executed',
        summary: 'rolled back to v1',
        output: { stableVersion: '1' },
      });
      expect(await executions.find(record.key)).toEqual({
        ...record,
        end: { status: 'executed', summary: 'rolled back to v1', output: { stableVersion: '1' } },
      });
    });

    it('knows nothing of a key never taken, and finishing one keeps nothing', async () => {
      const executions = await open();
      const key = sampleRecord().key;
      expect(await executions.find(key)).toBeUndefined();
      await executions.finish(key, { status: 'failed', summary: 'no such call' });
      expect(await executions.find(key)).toBeUndefined();
    });
  });
}
