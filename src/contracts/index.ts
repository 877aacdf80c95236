// The data contracts room's door: per dataset kind, what valid data looks like (columns,
// nulls, ranges, uniqueness, row counts, freshness, time gaps, CEL rules over a row).
export type {
  ContractColumn,
  ContractColumnType,
  ContractSet,
  DataContract,
  FreshnessRule,
  GapRule,
  RowCountRule,
  RowRuleSpec,
  RuleSeverity,
  RuleSource,
  UniqueRule,
} from './types.js';
export { CONTRACT_COLUMN_TYPES, RULE_SEVERITIES } from './types.js';
export {
  CONTRACT_API_VERSION,
  CONTRACT_KIND,
  COLUMN_CHECKS,
  ROWS_RULE_ID,
  freshnessRuleId,
  parseContractFile,
} from './contract-file.js';
export { buildContractSet, ContractInvalidError, createContractSet, loadContracts } from './load-contracts.js';
export {
  compileRowCondition,
  type CompiledRowRule,
  type RowCondition,
  type RowResult,
  type RowValue,
} from './row-condition.js';
