import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { alertmanagerTrigger, genericAlertTrigger } from '../../../src/intake/index.js';

const body = {
  name: 'ModelDriftDetected',
  status: 'firing',
  labels: { model: 'credit-risk', dataset: 'credit-recent', environment: 'production' },
  annotations: { runbook_url: 'https://wiki/drift' },
  summary: 'PSI 0.41 on credit_utilization',
  startsAt: '2026-11-23T16:00:00Z',
};

function rejection(input: unknown): string {
  try {
    genericAlertTrigger(input, 'monitor:grafana');
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error('the body was accepted');
}

describe('a generic JSON alert', () => {
  it('becomes an alert trigger named for runbooks, acting as agent:alerts and naming its sender', () => {
    const { trigger, dedupeKey, status } = genericAlertTrigger(body, 'monitor:grafana');
    expect(status).toBe('firing');
    expect(trigger).toMatchObject({
      kind: 'alert',
      alertName: 'ModelDriftDetected',
      principal: { id: 'agent:alerts', roles: [] },
      text: 'ModelDriftDetected firing: PSI 0.41 on credit_utilization',
      data: {
        status: 'firing',
        sender: 'monitor:grafana',
        labels: { alertname: 'ModelDriftDetected', model: 'credit-risk', dataset: 'credit-recent' },
      },
    });
    expect(dedupeKey).toMatch(/^alert:generic:ModelDriftDetected:/);
  });

  it('coalesces by its dedupeKey when given, else by its name and labels in any order', () => {
    expect(genericAlertTrigger({ ...body, dedupeKey: 'credit-risk-drift' }, 's').dedupeKey).toBe(
      'alert:credit-risk-drift',
    );
    const a = genericAlertTrigger({ name: 'X', labels: { a: '1', b: '2' } }, 's').dedupeKey;
    const b = genericAlertTrigger({ name: 'X', labels: { b: '2', a: '1' }, status: 'resolved' }, 's').dedupeKey;
    const c = genericAlertTrigger({ name: 'X', labels: { a: '1', b: '3' } }, 's').dedupeKey;
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('defaults to firing, and takes a resolved notice', () => {
    expect(genericAlertTrigger({ name: 'X' }, 's').status).toBe('firing');
    expect(genericAlertTrigger({ name: 'X', status: 'resolved' }, 's')).toMatchObject({
      status: 'resolved',
      trigger: { text: 'X resolved', data: { status: 'resolved' } },
    });
  });

  it('is refused with the field named: missing name, unknown keys, a bad status, a bad date, non-string labels', () => {
    expect(rejection({ status: 'firing' })).toMatch(/^not a valid alert: name: Required/);
    expect(rejection({ ...body, severity: 'page' })).toMatch(/Unrecognized key\(s\) in object: 'severity'/);
    expect(rejection({ ...body, status: 'ok' })).toMatch(/status: Invalid enum value/);
    expect(rejection({ ...body, startsAt: 'yesterday' })).toMatch(/startsAt: must be an ISO 8601 date-time/);
    expect(rejection({ ...body, labels: { model: 3 } })).toMatch(/labels\.model: Expected string, received number/);
    expect(rejection([1, 2])).toMatch(/\(body\): Expected object, received array/);
  });
});

describe('the status of an Alertmanager group', () => {
  it('is returned beside the trigger, so a resolved group can be told apart', () => {
    const resolved = {
      version: '4',
      groupKey: 'g',
      truncatedAlerts: 0,
      status: 'resolved',
      receiver: 'r',
      groupLabels: {},
      commonLabels: { alertname: 'A' },
      commonAnnotations: {},
      externalURL: 'http://am',
      alerts: [],
    };
    expect(alertmanagerTrigger(resolved)).toMatchObject({ status: 'resolved', dedupeKey: 'alert:g' });
  });
});
