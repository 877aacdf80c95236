// Shadows in words, for transcripts, approvers and the serving view.
import type { Shadow, TrafficSplit } from './ports.js';

/** "credit-risk production: shadow v4 mirrors 10% of stable v1's requests, running; passed: ..." */
export function describeShadow(shadow: Shadow): string {
  const a = shadow.analysis;
  const figures =
    a && a.meanScoreDelta !== null
      ? ` (mean score ${a.meanScoreDelta >= 0 ? '+' : ''}${a.meanScoreDelta.toFixed(3)}, agreement ${((a.agreement ?? 0) * 100).toFixed(1)}%)`
      : '';
  const verdict = a ? `; ${a.verdict}: ${a.reason}${figures}` : '; analysis not known here';
  const ended = shadow.status === 'ended' ? `, ended: ${shadow.reason ?? 'no reason given'}` : ', running';
  const against = a ? ` of stable v${a.stableVersion}'s requests` : " of the stable version's requests";
  return `${shadow.model} ${shadow.environment}: shadow v${shadow.version} mirrors ${shadow.mirrorPercent}%${against}${ended}${verdict}`;
}

/**
 * What a shadow call would change, as approvals compare it: the split and which shadows run
 * at what share (not their analyses, which move with every request).
 */
export function shadowState(split: TrafficSplit | undefined, shadows: Shadow[]) {
  return {
    split: split ?? null,
    shadows: shadows
      .filter((s) => s.status === 'running')
      .map(({ version, mirrorPercent }) => ({ version, mirrorPercent })),
  };
}
