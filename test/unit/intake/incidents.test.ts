// Incident identity: which alerts a notification carries (Alertmanager v4, a minimal
// sender, Grafana, a generic alert), and which of them a run already handles.
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import {
  alertmanagerTrigger,
  fingerprintOf,
  genericAlertTrigger,
  judgeAlerts,
  type AlertRecord,
} from '../../../src/intake/index.js';

const labels = { alertname: 'CanaryDegraded', model: 'credit-risk', environment: 'production', version: '3' };

describe('the alerts of an Alertmanager notification', () => {
  it('are identified by fingerprint and startsAt', () => {
    const notice = alertmanagerTrigger({
      version: '4',
      groupKey: '{}:{alertname="CanaryDegraded"}',
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'mlops',
      groupLabels: { alertname: 'CanaryDegraded' },
      commonLabels: labels,
      commonAnnotations: {},
      externalURL: 'http://am',
      alerts: [
        {
          status: 'firing',
          labels,
          annotations: {},
          startsAt: '2026-11-23T16:00:00.123456789Z',
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: 'http://prom',
          fingerprint: 'c6eadffa33fcdf37',
        },
      ],
    });
    expect(notice.alerts).toEqual([
      { key: 'am:c6eadffa33fcdf37', startsAt: '2026-11-23T16:00:00.123456789Z', status: 'firing' },
    ]);
    expect(notice.dedupeKey).toBe('alert:{}:{alertname="CanaryDegraded"}');
  });

  it('accept a minimal payload (status, alerts with labels and startsAt): fingerprint and group key are derived', () => {
    const minimal = { status: 'firing', alerts: [{ labels, startsAt: '2026-11-23T16:00:00Z' }] };
    const notice = alertmanagerTrigger(minimal);
    expect(notice.alerts).toEqual([
      { key: `am:${fingerprintOf(labels)}`, startsAt: '2026-11-23T16:00:00Z', status: 'firing' },
    ]);
    expect(notice.trigger).toMatchObject({
      alertName: 'CanaryDegraded',
      text: 'CanaryDegraded firing',
      data: { labels },
    });
    // The same alerts sent again give the same group, whatever order the labels come in.
    const reordered = {
      status: 'firing',
      alerts: [{ labels: Object.fromEntries(Object.entries(labels).reverse()), startsAt: '2026-11-23T16:00:00Z' }],
    };
    expect(alertmanagerTrigger(reordered).dedupeKey).toBe(notice.dedupeKey);
    expect(alertmanagerTrigger(reordered).alerts[0]!.key).toBe(notice.alerts[0]!.key);
  });

  it("accept Grafana's webhook payload (version 1, with its extra fields)", () => {
    const grafana = {
      receiver: 'mlops-agent',
      status: 'firing',
      orgId: 1,
      version: '1',
      groupKey: '{}/{}:{alertname="High latency"}',
      truncatedAlerts: 0,
      groupLabels: { alertname: 'High latency' },
      commonLabels: { alertname: 'High latency', team: 'ml' },
      commonAnnotations: {},
      externalURL: 'https://grafana.example/',
      title: '[FIRING:1] High latency',
      state: 'alerting',
      message: '**Firing**',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'High latency', team: 'ml' },
          annotations: { summary: 'p99 over bound' },
          startsAt: '2021-10-12T09:51:03.157076+02:00',
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: 'https://grafana.example/alerting/1afz29v7z/edit',
          fingerprint: 'c6eadffa33fcdf37',
          silenceURL: 'https://grafana.example/alerting/silence/new',
          dashboardURL: '',
          panelURL: '',
          values: { B: 44.2, C: 1 },
        },
      ],
    };
    const notice = alertmanagerTrigger(grafana);
    expect(notice).toMatchObject({
      status: 'firing',
      dedupeKey: 'alert:{}/{}:{alertname="High latency"}',
      alerts: [{ key: 'am:c6eadffa33fcdf37', startsAt: '2021-10-12T09:51:03.157076+02:00' }],
    });
    expect(notice.trigger.text).toBe('High latency firing: p99 over bound');
  });

  it('cap label and annotation counts and sizes as /v1/alerts does, naming the field', () => {
    const many = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`l${i}`, 'x']));
    const refused = (alert: Record<string, unknown>) => {
      try {
        alertmanagerTrigger({ status: 'firing', alerts: [{ labels, startsAt: '2026-11-23T16:00:00Z', ...alert }] });
      } catch (err) {
        expect(err).toBeInstanceOf(UserError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused({ labels: many })).toMatch(/alerts\.0\.labels: at most 100 entries/);
    expect(refused({ annotations: { summary: 'x'.repeat(2001) } })).toMatch(
      /alerts\.0\.annotations\.summary: label and annotation values are at most 2000 characters/,
    );
    expect(refused({ labels: { ['n'.repeat(201)]: 'x' } })).toMatch(
      /label and annotation names are at most 200 characters/,
    );
    expect(refused({ startsAt: 'yesterday' })).toMatch(/alerts\.0\.startsAt: must be an RFC 3339 date-time/);
    expect(() => alertmanagerTrigger({ status: 'firing', alerts: [] })).toThrow(
      /alerts: a firing notification carries at least one alert/,
    );
    expect(() =>
      alertmanagerTrigger({ status: 'firing', version: '3', alerts: [{ labels, startsAt: '2026-11-23T16:00:00Z' }] }),
    ).toThrow(/version: must be "4" \(Alertmanager\) or "1" \(Grafana\)/);
  });

  it("take each alert's own status, the group's when absent", () => {
    const notice = alertmanagerTrigger({
      status: 'firing',
      alerts: [
        { labels: { ...labels, pod: 'a' }, startsAt: '2026-11-23T16:00:00Z' },
        { status: 'resolved', labels: { ...labels, pod: 'b' }, startsAt: '2026-11-23T15:00:00Z' },
      ],
    });
    expect(notice.alerts.map((a) => a.status)).toEqual(['firing', 'resolved']);
  });
});

describe('the alert of a generic notification', () => {
  it('is its dedupe key, with its startsAt or none', () => {
    expect(
      genericAlertTrigger({ name: 'DriftHigh', dedupeKey: 'grafana:42', startsAt: '2026-01-31T02:00:00Z' }, 'user:op')
        .alerts,
    ).toEqual([{ key: 'generic:grafana:42', startsAt: '2026-01-31T02:00:00Z', status: 'firing' }]);
    expect(genericAlertTrigger({ name: 'DriftHigh', dedupeKey: 'grafana:42' }, 'user:op').alerts).toEqual([
      { key: 'generic:grafana:42', startsAt: null, status: 'firing' },
    ]);
  });
});

describe('judgeAlerts', () => {
  const now = Date.parse('2026-11-23T18:00:00Z');
  const record = (extra: Partial<AlertRecord> = {}): AlertRecord => ({
    schemaVersion: 1,
    key: 'am:f1',
    startsAt: '2026-11-23T16:00:00Z',
    status: 'firing',
    runId: 'run_a',
    handledAt: '2026-11-23T16:00:05Z',
    resolvedAt: null,
    ...extra,
  });
  const firing = (startsAt: string | null = '2026-11-23T16:00:00Z') => ({
    key: 'am:f1',
    startsAt,
    status: 'firing' as const,
  });

  it('calls an alert no run handles fresh', () => {
    expect(judgeAlerts([firing()], [undefined], now, null)).toEqual({ fresh: [firing()], handledBy: [] });
  });

  it('finds the run of an alert still firing the same firing, however late the repeat (repeat_interval, an HA peer)', () => {
    expect(judgeAlerts([firing()], [record()], now, null)).toEqual({ fresh: [], handledBy: ['run_a'] });
    // A late copy of its firing notice after it resolved is that firing still.
    expect(
      judgeAlerts([firing()], [record({ status: 'resolved', resolvedAt: '2026-11-23T17:00:00Z' })], now, null).fresh,
    ).toEqual([]);
  });

  it('calls fresh an alert that fired again after it resolved (a new startsAt), and a generic one seen firing after its resolve', () => {
    const refired = firing('2026-11-23T17:30:00Z');
    expect(
      judgeAlerts([refired], [record({ status: 'resolved', resolvedAt: '2026-11-23T17:00:00Z' })], now, null).fresh,
    ).toEqual([refired]);
    expect(
      judgeAlerts([firing(null)], [record({ status: 'resolved', resolvedAt: '2026-11-23T17:00:00Z' })], now, null)
        .fresh,
    ).toEqual([firing(null)]);
    expect(judgeAlerts([firing(null)], [record()], now, null).fresh).toEqual([]);
  });

  it("calls a still-firing alert fresh once the runbook's re-check interval has passed since its run took it", () => {
    expect(judgeAlerts([firing()], [record()], now, 3 * 3600_000).fresh).toEqual([]);
    expect(judgeAlerts([firing()], [record()], now, 3600_000).fresh).toEqual([firing()]);
  });

  it('names each handling run once, the most recent first', () => {
    const other = { key: 'am:f2', startsAt: '2026-11-23T16:30:00Z', status: 'firing' as const };
    const verdict = judgeAlerts(
      [firing(), other, firing()],
      [
        record(),
        record({ key: 'am:f2', startsAt: other.startsAt, runId: 'run_b', handledAt: '2026-11-23T16:31:00Z' }),
        record(),
      ],
      now,
      null,
    );
    expect(verdict.handledBy).toEqual(['run_b', 'run_a']);
  });
});
