// The transcript as any chat model sees it, before provider wire formats: outside content
// delimited as data, and each turn's results ordered like the calls they answer.
import type { CallOutcomeForPlanner, ProposedCall, TranscriptItem } from '../agent/planner.js';

export type ChatTurn =
  | { role: 'user'; text: string }
  | { role: 'model'; text: string | null; calls: ProposedCall[] }
  | { role: 'results'; results: { callId: string; name: string; outcome: CallOutcomeForPlanner | MissingOutcome }[] };

/** Providers require an answer for every call; a call the loop recorded nothing for gets this. */
export interface MissingOutcome {
  status: 'no_result';
  error: string;
}

const MISSING: MissingOutcome = { status: 'no_result', error: 'no outcome was recorded for this call; it did not run' };

/**
 * What a model may read as one of our tags, after folding the tricks that hide one:
 * full-width and small forms (NFKC folds ＜／ｕｎｔｒｕｓｔｅｄ＿ｄａｔａ to ASCII), case,
 * spaces, invisible format characters (zero-width spaces and joiners, soft hyphens, bidi
 * marks: dropped before matching), other angle brackets and slashes, and HTML or JSON
 * escapes of `<`. An opening tag counts as much as a closing one: content must neither
 * end its block early nor start a block that claims to be something else.
 */
// One way to match any text (the space after a slash only counts after one), so a long
// run of spaces after `<` costs linear time.
const TAG_LIKE = /(?:[<‹〈⟨˂❮]|&lt;?|&#0*60;?|&#x0*3c;?|\\+u0*3c)\s*(?:([/⁄∕⧸\\])\s*)?untrusted[\s_-]*data/gi;
/** Format characters a model does not see but that split a tag for a naive matcher. */
const INVISIBLE = /[\p{Cf}\u034f\u115f\u1160\u3164\uffa0\ufe00-\ufe0f]/u;

/**
 * Content with every lookalike of our tags made plain text: `[untrusted_data]` and
 * `[/untrusted_data]` in place of the characters that spelled it. Linear in the content.
 */
export function defuseTags(content: string): string {
  // Folded text, and for each of its characters the index in `content` it came from.
  let folded = '';
  const from: number[] = [];
  for (let i = 0; i < content.length;) {
    const cp = content.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    if (!INVISIBLE.test(ch)) {
      const norm = ch.normalize('NFKC').toLowerCase();
      for (let k = 0; k < norm.length; k++) from.push(i);
      folded += norm;
    }
    i += ch.length;
  }
  TAG_LIKE.lastIndex = 0;
  let out = '';
  let last = 0;
  for (let m = TAG_LIKE.exec(folded); m !== null; m = TAG_LIKE.exec(folded)) {
    const start = from[m.index]!;
    const endCp = content.codePointAt(from[m.index + m[0].length - 1]!)!;
    const end = from[m.index + m[0].length - 1]! + String.fromCodePoint(endCp).length;
    if (start < last) continue;
    out += content.slice(last, start) + (m[1] ? '[/untrusted_data]' : '[untrusted_data]');
    last = end;
  }
  return last === 0 ? content : out + content.slice(last);
}

/**
 * Wraps outside content in `<untrusted_data>` so the model can tell it from instructions.
 * Anything inside that looks like one of the tags is defused, so the data can neither end
 * its own block early nor open one of its own.
 */
export function delimitUntrusted(source: string, content: string): string {
  const safeSource = source.replace(/[^A-Za-z0-9_.:-]/g, '_');
  return `<untrusted_data source="${safeSource}">\n${defuseTags(content)}\n</untrusted_data>`;
}

/**
 * A tool's result as the model reads it: data like an alert or a chat message (tool
 * output carries outside text: data set columns, model descriptions, alert labels echoed
 * into errors), behind one line that says which call it answers.
 */
export function renderToolResult(name: string, outcome: CallOutcomeForPlanner | MissingOutcome): string {
  return delimitUntrusted(`tool_result:${name}`, toJsonText({ tool: name, ...outcome }));
}

/** Strings anywhere in a value (a model's call arguments) with lookalike tags defused. */
export function defuseDeep(value: unknown): unknown {
  if (typeof value === 'string') return defuseTags(value);
  if (Array.isArray(value)) return value.map(defuseDeep);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [defuseTags(k), defuseDeep(v)]));
  return value;
}

export function renderTrigger(item: Extract<TranscriptItem, { kind: 'trigger' }>): string {
  const lines = [`A run was started by a ${item.trigger} trigger. Its content follows as data.`];
  if (item.text.trim() !== '') lines.push(delimitUntrusted(item.trigger, item.text));
  if (item.data !== undefined && item.data !== null)
    lines.push(delimitUntrusted(`${item.trigger}.data`, toJsonText(item.data)));
  return lines.join('\n');
}

/** People's comments are outside content too: the decision is stated, the details are data. */
export function renderApproval(item: Extract<TranscriptItem, { kind: 'approval' }>): string {
  return [
    `Your earlier call ${item.callId} (${item.name}) waited for approval ${item.approvalId}, which was ${item.status}. The decision and the call's outcome follow as data.`,
    delimitUntrusted('approval', toJsonText({ resolution: item.resolution, outcome: item.outcome })),
  ].join('\n');
}

/** How a long-running call ended; its output is data like any tool result. */
export function renderWait(item: Extract<TranscriptItem, { kind: 'wait' }>): string {
  return [
    `Your earlier call ${item.callId} (${item.name}) was long-running; the run waited ${Math.round(item.waitedMs / 1000)} s for it. How it ended follows as data.`,
    delimitUntrusted('tool_result', toJsonText(item.outcome)),
  ].join('\n');
}

export function toJsonText(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

export function toChatTurns(transcript: readonly TranscriptItem[]): ChatTurn[] {
  const turns: ChatTurn[] = [];
  let lastPlan: ProposedCall[] = [];
  let pending: Extract<TranscriptItem, { kind: 'result' }>[] = [];

  const flushResults = (final: boolean) => {
    if (pending.length === 0 && (lastPlan.length === 0 || final)) return;
    const byId = new Map(pending.map((r) => [r.callId, r]));
    const ordered: Extract<ChatTurn, { role: 'results' }>['results'] = lastPlan.map((call) => {
      const result = byId.get(call.id);
      byId.delete(call.id);
      return result
        ? { callId: call.id, name: result.name, outcome: result.outcome }
        : { callId: call.id, name: call.name, outcome: MISSING };
    });
    // Results for calls the last plan did not make still reach the model, after the others.
    for (const r of byId.values()) ordered.push({ callId: r.callId, name: r.name, outcome: r.outcome });
    turns.push({ role: 'results', results: ordered });
    pending = [];
    lastPlan = [];
  };

  for (const item of transcript) {
    if (item.kind === 'result') {
      pending.push(item);
      continue;
    }
    flushResults(false);
    switch (item.kind) {
      case 'trigger':
        turns.push({ role: 'user', text: renderTrigger(item) });
        break;
      case 'note':
        // Notes quote planner and provider errors, which can echo outside text.
        turns.push({ role: 'user', text: defuseTags(item.text) });
        break;
      case 'approval':
        turns.push({ role: 'user', text: renderApproval(item) });
        break;
      case 'wait':
        turns.push({ role: 'user', text: renderWait(item) });
        break;
      case 'plan':
        if (item.text === null && item.calls.length === 0) break;
        // A model (or a runbook) may have copied outside text into its own words and
        // arguments: shown back to it, that text carries no live tag either.
        turns.push({
          role: 'model',
          text: item.text === null ? null : defuseTags(item.text),
          calls: item.calls.map((c) => ({ ...c, args: defuseDeep(c.args) })),
        });
        lastPlan = item.calls;
        break;
      case 'answer':
        turns.push({ role: 'model', text: defuseTags(item.text), calls: [] });
        break;
    }
  }
  flushResults(true);
  return turns;
}

/** Arguments as an object, whatever the model sent (providers require an object here). */
export function argsObject(args: unknown): Record<string, unknown> {
  return typeof args === 'object' && args !== null && !Array.isArray(args)
    ? (args as Record<string, unknown>)
    : { value: args };
}
