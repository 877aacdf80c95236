// Turns an Alertmanager webhook payload (one alert group) into the trigger of a run.
// Labels and annotations are outside content: they travel as data, never as instructions.
import type { Trigger } from '../agent/run.js';

export interface AlertGroup {
  status: string;
  groupKey: string;
  commonLabels: Record<string, string>;
  alerts: {
    status: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt: string;
    fingerprint: string;
  }[];
}

export const ALERTMANAGER_PRINCIPAL = { id: 'agent:alertmanager', roles: [] as string[] };

export function triggerFromAlertGroup(group: AlertGroup): Trigger {
  const first = group.alerts[0];
  const labels = { ...(first?.labels ?? {}), ...group.commonLabels };
  const annotations = first?.annotations ?? {};
  const alertName = labels.alertname ?? 'unnamed';
  return {
    kind: 'alert',
    principal: ALERTMANAGER_PRINCIPAL,
    alertName,
    text: `${alertName} ${group.status}${annotations.summary ? `: ${annotations.summary}` : ''}`,
    data: {
      status: group.status,
      groupKey: group.groupKey,
      labels,
      annotations,
      alerts: group.alerts.map((a) => ({
        status: a.status,
        labels: a.labels,
        startsAt: a.startsAt,
        fingerprint: a.fingerprint,
      })),
    },
  };
}
