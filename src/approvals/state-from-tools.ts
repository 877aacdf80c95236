// The state a call would change, from the tool's own `preview`: its hash makes an approval
// moot when the world moves, its words show approvers what changes (now -> after).
import type { AnyTool, Backends } from '../../tools/index.js';
import { canonicalJson, sha256Hex } from '../audit/index.js';
import type { StateOf } from './approvals.js';

export function stateFromTools(tools: readonly AnyTool[], backends: Backends): StateOf {
  return async (name, args) => {
    const tool = tools.find((t) => t.name === name);
    if (!tool?.preview) return null;
    const { now, after, state } = await tool.preview(args, {
      backends,
      principal: 'system:approvals',
      idempotencyKey: 'preview',
    });
    return { hash: sha256Hex(canonicalJson(state ?? null)), preview: { now, after } };
  };
}
