// A data contract as loaded: plain data (no functions), so it can cross into the trainer's
// worker thread and be recorded as it was. Every rule carries its id, severity and line.

/** `hard`: the data fails its check and the trainer refuses it. `soft`: reported; a person should look. */
export type RuleSeverity = 'hard' | 'soft';
export const RULE_SEVERITIES: readonly RuleSeverity[] = ['hard', 'soft'];

export type ContractColumnType = 'string' | 'number' | 'integer' | 'date' | 'timestamp' | 'category';
export const CONTRACT_COLUMN_TYPES: readonly ContractColumnType[] = [
  'string',
  'number',
  'integer',
  'date',
  'timestamp',
  'category',
];

/** Where a rule is written, so a violation can send the operator to the line. */
export interface RuleSource {
  file: string;
  line: number;
}

export interface ContractColumn extends RuleSource {
  name: string;
  type: ContractColumnType;
  /** false: every row needs a value. */
  nullable: boolean;
  /** Share of rows that may lack a value (0..1); 0 unless nullable. */
  maxNullRate: number;
  /** Inclusive bounds (number, integer). */
  min: number | null;
  max: number | null;
  /** Allowed values (category, string). */
  values: string[] | null;
  /** PSI/KS drift of this column against the reference is measured. */
  drift: boolean;
  /** Severity of every constraint on the column (presence, type, nulls, range, values). */
  severity: RuleSeverity;
}

export interface UniqueRule extends RuleSource {
  id: string;
  columns: string[];
  severity: RuleSeverity;
}

export interface RowCountRule extends RuleSource {
  min: number | null;
  max: number | null;
  severity: RuleSeverity;
}

export interface FreshnessRule extends RuleSource {
  /** A date or timestamp column: its newest value must be at most `maxAgeMs` old. */
  column: string;
  maxAgeMs: number;
  maxAge: string;
  severity: RuleSeverity;
}

/** Consecutive timestamps (per `by` group) may be at most `maxGapMs` apart. */
export interface GapRule extends RuleSource {
  id: string;
  column: string;
  by: string | null;
  maxGapMs: number;
  maxGap: string;
  severity: RuleSeverity;
}

/** A cross-field rule: CEL over one row (`row.bid <= row.ask`); only `true` passes a row. */
export interface RowRuleSpec extends RuleSource {
  id: string;
  when: string;
  reason: string;
  severity: RuleSeverity;
  /**
   * Tolerance in time: the rule is broken only where more than `maxRows` rows fail it
   * within one `size` window of `column` (e.g. at most 2 crossed quotes a minute).
   */
  window: { column: string; sizeMs: number; size: string; maxRows: number } | null;
}

export interface DataContract {
  name: string;
  description: string | null;
  file: string;
  /** sha256 of the file's text: a verdict is valid for the contract it was made under. */
  hash: string;
  /** Dataset names this contract covers; `*` matches any run of characters. */
  datasets: string[];
  /** The dataset drift is measured against by default; null: no drift unless asked. */
  reference: string | null;
  /** The model trained on this kind of data: its production version's scores give prediction drift. */
  model: string | null;
  columns: ContractColumn[];
  /** Line of `columns:`, where a column the data has and the contract lacks is reported. */
  columnsLine: number;
  unique: UniqueRule[];
  rows: RowCountRule | null;
  freshness: FreshnessRule | null;
  gaps: GapRule[];
  rules: RowRuleSpec[];
}

export interface ContractSet {
  contracts: readonly DataContract[];
  files: readonly string[];
  /** The first contract (in file order) whose `datasets` match the name, or undefined. */
  forDataset(dataset: string): DataContract | undefined;
}
