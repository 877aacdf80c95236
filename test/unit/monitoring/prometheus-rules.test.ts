// The example alerting rules and the shipped runbooks name the same alerts: every alert the
// rules can raise has a runbook that answers it, and no runbook waits for an alert no rule raises.
// And the rules fire when they should, on Prometheus's own engine (promtool, Debian's 2.42).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { allTools } from '../../../tools/index.js';
import { loadRunbooks } from '../../../src/runbooks/index.js';
import { packageRoot, promptsDir } from '../../../src/paths.js';

interface RulesFile {
  groups: {
    name: string;
    rules: { alert?: string; record?: string; expr: string; labels?: Record<string, string> }[];
  }[];
}

const rules = parse(readFileSync(join(packageRoot, 'examples', 'prometheus', 'rules.yml'), 'utf8')) as RulesFile;
const alertNames = new Set(rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : []))));

describe('examples/prometheus/rules.yml and prompts/runbooks', () => {
  it('answer exactly the same alert names, the predictive ones with a runbook that only tells people', async () => {
    const runbooks = await loadRunbooks(
      join(promptsDir, 'runbooks'),
      allTools.map((t) => t.name),
    );
    const answered = new Set(runbooks.flatMap((rb) => rb.alerts));
    expect([...alertNames].sort()).toEqual([...answered].sort());
    expect(alertNames.size).toBeGreaterThanOrEqual(6);
    const capacity = runbooks.find((rb) => rb.alerts.includes('LabDiskFillingUp'))!;
    expect(capacity.steps.every((step) => !('tool' in step) || step.tool === undefined)).toBe(true);
    expect(
      rules.groups
        .flatMap((g) => g.rules)
        .filter((r) => r.alert?.startsWith('Lab'))
        .every((r) => r.expr.includes('predict_linear')),
    ).toBe(true);
  });

  it('name the series labels the runbooks read: model and environment on every rule, dataset on drift and accuracy', () => {
    for (const rule of rules.groups.flatMap((g) => g.rules)) {
      // A process-wide capacity alert names the lab itself, in its static labels.
      const named = `${rule.expr} ${Object.keys(rule.labels ?? {}).join(' ')}`;
      expect(named, rule.alert).toMatch(/model/);
      expect(named, rule.alert).toMatch(/environment/);
      if (rule.alert === 'ModelDriftDetected' || rule.alert === 'ModelAccuracyDrop')
        expect(rule.expr, rule.alert).toMatch(/dataset/);
      if (rule.alert === 'CanaryDegraded') expect(rule.expr, rule.alert).toMatch(/by \(model, environment, version/);
    }
  });
});

describe('examples/prometheus/rules.yml on promtool', () => {
  it('fires the predictive, canary and drift alerts on the series of rules.test.yml, and not on steady ones', async () => {
    const promtool = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';
    const { stdout } = await promisify(execFile)(promtool, ['test', 'rules', 'rules.test.yml'], {
      cwd: join(packageRoot, 'examples', 'prometheus'),
    });
    expect(stdout).toContain('SUCCESS');
    const cases = parse(readFileSync(join(packageRoot, 'examples', 'prometheus', 'rules.test.yml'), 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const firing = new Set(
      cases.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)),
    );
    expect([...firing].sort()).toEqual(['CanaryDegraded', 'LabDiskFillingUp', 'LabMemoryLeak', 'ModelDriftDetected']);
  });
});
