// One policy file: YAML in the style of a Kubernetes admission policy, checked field by
// field with line numbers, its conditions compiled. Cross-file checks live in load-policy-set.ts.
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { compileCondition, type CompiledCondition } from './cel-condition.js';
import { parseDuration } from './duration.js';
import { compileReason, type ReasonPart } from './reason-template.js';
import { EFFECTS, type ApprovalRequirement, type CompiledRule, type Effect } from './types.js';
import {
  IssueSink,
  readBoolean,
  readFields,
  readPositiveInt,
  readString,
  readStringList,
  type PolicyIssue,
} from './yaml-nodes.js';

export const API_VERSION = 'mlops-agent/v1';
export const KIND = 'Policy';
const DEFAULT_EXPIRES_IN = '4h';

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'roles', 'rules'] as const;
const METADATA_FIELDS = ['name', 'description'] as const;
const RULE_FIELDS = ['id', 'tools', 'when', 'effect', 'reason', 'approval'] as const;
const APPROVAL_FIELDS = ['roles', 'count', 'expiresIn', 'eachRole'] as const;
const RULE_ID = /^[a-z0-9][a-z0-9._-]*$/;

/** A rule whose condition is ready to run. */
export interface LoadedRule extends CompiledRule {
  condition: CompiledCondition | null;
  /** The reason's `{{ expr }}` parts, compiled; null when it has none. */
  reasonParts: ReasonPart[] | null;
  /** Lines of the approval roles, so the set can point at an undeclared one. */
  approvalRoleLines: number[];
}

export interface ParsedPolicyFile {
  file: string;
  name: string | null;
  /** role -> members, with the line that declares the role */
  roles: Map<string, { members: string[]; line: number }>;
  rules: LoadedRule[];
  issues: PolicyIssue[];
}

export function parsePolicyFile(file: string, text: string, knownTools: ReadonlySet<string>): ParsedPolicyFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: false });
  const sink = new IssueSink(file, lineCounter);
  const result: ParsedPolicyFile = { file, name: null, roles: new Map(), rules: [], issues: sink.issues };

  if (doc.errors.length > 0) {
    for (const err of doc.errors) {
      const line = err.linePos?.[0]?.line ?? 1;
      sink.issues.push({ file, line, message: `YAML syntax error: ${err.message.split('\n')[0]}` });
    }
    return result;
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    sink.issues.push({
      file,
      line: 1,
      message: `the file is empty; a policy starts with "apiVersion: ${API_VERSION}"`,
    });
    return result;
  }
  const top = readFields(sink, doc.contents, 'the policy file', TOP_FIELDS, 1);
  if (!top) return result;

  const apiVersion = top.get('apiVersion');
  if (!apiVersion || !isScalar(apiVersion.value) || apiVersion.value.value !== API_VERSION) {
    sink.add(apiVersion?.value, `apiVersion must be "${API_VERSION}"`, apiVersion?.line ?? 1);
  }
  const kind = top.get('kind');
  if (!kind || !isScalar(kind.value) || kind.value.value !== KIND) {
    sink.add(kind?.value, `kind must be "${KIND}"`, kind?.line ?? 1);
  }
  const metadata = top.get('metadata');
  if (metadata) {
    const meta = readFields(sink, metadata.value, 'metadata', METADATA_FIELDS, metadata.line);
    const name = meta?.get('name');
    if (name) result.name = readString(sink, name, 'metadata.name');
  }

  const roles = top.get('roles');
  if (roles && !(isScalar(roles.value) && roles.value.value === null)) {
    if (!isMap(roles.value)) {
      sink.add(
        roles.value,
        'roles must map a role name to a list of principal ids, e.g. "ml-leads: [user:alice]"',
        roles.line,
      );
    } else {
      const names = roles.value.items.map((p) => (isScalar(p.key) ? String(p.key.value) : ''));
      const fields = readFields(sink, roles.value, 'roles', names, roles.line);
      for (const [role, field] of fields ?? []) {
        const members = readStringList(sink, field, `roles.${role}`, { allowEmpty: true });
        if (members) result.roles.set(role, { members: members.map((m) => m.value), line: field.line });
      }
    }
  }

  const rules = top.get('rules');
  if (rules && !(isScalar(rules.value) && rules.value.value === null)) {
    if (!isSeq(rules.value)) {
      sink.add(rules.value, 'rules must be a list; start each rule with "- id: ..."', rules.line);
    } else {
      rules.value.items.forEach((node, index) => {
        const rule = parseRule(sink, node, index, knownTools, sink.lineOf(node, rules.line));
        if (rule) result.rules.push(rule);
      });
    }
  }
  return result;
}

function parseRule(
  sink: IssueSink,
  node: unknown,
  index: number,
  knownTools: ReadonlySet<string>,
  line: number,
): LoadedRule | null {
  const before = sink.issues.length;
  const fields = readFields(sink, node, `rule #${index + 1}`, RULE_FIELDS, line);
  if (!fields) return null;
  const idField = fields.get('id');
  let id: string | null = null;
  if (!idField)
    sink.add(node, `rule #${index + 1} has no "id"; give it a short unique name such as "prod-canary-approval"`, line);
  else {
    id = readString(sink, idField, `rule #${index + 1} id`);
    if (id !== null && !RULE_ID.test(id)) {
      sink.add(idField.value, `rule id "${id}" may use only lowercase letters, digits, ".", "_" and "-"`, idField.line);
    }
  }
  const what = id ? `rule "${id}"` : `rule #${index + 1}`;

  let tools: string[] | null = null;
  const toolsField = fields.get('tools');
  if (!toolsField) sink.add(node, `${what} has no "tools"; list the tool names it covers, or "*" for all`, line);
  else {
    const list = readStringList(sink, toolsField, `${what} tools`, { allowSingle: true });
    if (list) {
      tools = [];
      for (const t of list) {
        if (t.value !== '*' && !knownTools.has(t.value)) {
          sink.issues.push({
            file: sink.file,
            line: t.line,
            message: `${what} names unknown tool "${t.value}"; known tools are: ${[...knownTools].sort().join(', ')} (or "*")`,
          });
        } else tools.push(t.value);
      }
      if (tools.includes('*')) tools = ['*'];
    }
  }

  let effect: Effect | null = null;
  const effectField = fields.get('effect');
  if (!effectField) sink.add(node, `${what} has no "effect"; use one of: ${EFFECTS.join(', ')}`, line);
  else {
    const value = isScalar(effectField.value) ? effectField.value.value : undefined;
    if (typeof value === 'string' && (EFFECTS as readonly string[]).includes(value)) effect = value as Effect;
    else sink.add(effectField.value, `${what} effect must be one of: ${EFFECTS.join(', ')}`, effectField.line);
  }

  let reason: string | null = null;
  let reasonParts: ReasonPart[] | null = null;
  const reasonField = fields.get('reason');
  if (!reasonField) sink.add(node, `${what} has no "reason"; say in a sentence why the rule exists`, line);
  else reason = readString(sink, reasonField, `${what} reason`);
  if (reason !== null) {
    try {
      reasonParts = compileReason(reason);
    } catch (err) {
      sink.add(reasonField!.value, `${what}: ${err instanceof Error ? err.message : String(err)}`, reasonField!.line);
    }
  }

  let when: string | null = null;
  let condition: CompiledCondition | null = null;
  const whenField = fields.get('when');
  if (whenField) {
    when = readString(sink, whenField, `${what} when`);
    if (when !== null) {
      try {
        condition = compileCondition(when);
      } catch (err) {
        sink.add(whenField.value, `${what}: ${err instanceof Error ? err.message : String(err)}`, whenField.line);
      }
    }
  }

  let approval: ApprovalRequirement | undefined;
  const approvalRoleLines: number[] = [];
  const approvalField = fields.get('approval');
  if (effect === 'require_approval' && !approvalField) {
    sink.add(
      node,
      `${what} requires approval but has no "approval" block; add e.g. "approval: { roles: [ml-leads], count: 1, expiresIn: 4h }"`,
      line,
    );
  } else if (effect !== null && effect !== 'require_approval' && approvalField) {
    sink.add(
      approvalField.keyNode,
      `${what} has an "approval" block but effect "${effect}"; approval applies only to require_approval`,
      approvalField.line,
    );
  } else if (approvalField) {
    const a = readFields(sink, approvalField.value, `${what} approval`, APPROVAL_FIELDS, approvalField.line);
    const rolesField = a?.get('roles');
    const countField = a?.get('count');
    const expiresField = a?.get('expiresIn');
    if (a && !rolesField)
      sink.add(
        approvalField.value,
        `${what} approval has no "roles"; name who may approve, e.g. [ml-leads]`,
        approvalField.line,
      );
    const roles = rolesField ? readStringList(sink, rolesField, `${what} approval.roles`, { allowSingle: true }) : null;
    const count = countField ? readPositiveInt(sink, countField, `${what} approval.count`) : 1;
    const eachRoleField = a?.get('eachRole');
    const eachRole = eachRoleField ? readBoolean(sink, eachRoleField, `${what} approval.eachRole`) : false;
    if (eachRole && roles && count !== null && count < roles.length) {
      sink.add(
        countField?.value ?? approvalField.value,
        `${what} approval.eachRole needs a count of at least ${roles.length} (one approver per role), got ${count}`,
        countField?.line ?? approvalField.line,
      );
    }
    let expiresInMs: number | null = null;
    const expiresText = expiresField
      ? readString(sink, expiresField, `${what} approval.expiresIn`)
      : DEFAULT_EXPIRES_IN;
    if (expiresText !== null) {
      const parsed = parseDuration(expiresText);
      if ('error' in parsed)
        sink.add(expiresField?.value, `${what} approval.expiresIn: ${parsed.error}`, expiresField?.line ?? line);
      else expiresInMs = parsed.ms;
    }
    if (roles && count !== null && expiresInMs !== null && eachRole !== null) {
      approval = { roles: roles.map((r) => r.value), count, expiresInMs, ...(eachRole ? { eachRole } : {}) };
      approvalRoleLines.push(...roles.map((r) => r.line));
    }
  }

  if (sink.issues.length > before || id === null || tools === null || effect === null || reason === null) return null;
  const rule: LoadedRule = {
    id,
    tools,
    when,
    effect,
    reason,
    file: sink.file,
    line,
    condition,
    reasonParts,
    approvalRoleLines,
  };
  if (approval) rule.approval = approval;
  return rule;
}
