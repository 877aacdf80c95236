// Traffic splits in words, for approvers: "stable v1 95%, canary v2 5%".
import type { TrafficSplit } from './ports.js';

export function describeSplit(
  split: Pick<TrafficSplit, 'stableVersion' | 'canaryVersion' | 'canaryPercent'> | undefined,
): string {
  if (!split) return 'not served';
  if (!split.canaryVersion || split.canaryPercent === 0) return `v${split.stableVersion} 100%`;
  return `stable v${split.stableVersion} ${100 - split.canaryPercent}%, canary v${split.canaryVersion} ${split.canaryPercent}%`;
}
