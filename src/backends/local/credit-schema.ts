// The columns of the lab's credit-risk datasets, shared by the generator, the trainer,
// the model server and the data checks.

export type ColumnType = 'string' | 'date' | 'number' | 'integer' | 'category' | 'label';

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  /** Used as a model input. */
  feature: boolean;
  /** Inclusive bounds a valid value lies in (numbers). */
  range?: [number, number];
  /** Allowed values (categories). */
  values?: string[];
  /** Missing values allowed up to this fraction before a finding is raised. */
  maxMissing: number;
}

export const AGE_BANDS = ['18-25', '26-35', '36-50', '51-65', '65+'] as const;

/** `protected_group` is a protected attribute: never a feature, used for the parity check. */
export const CREDIT_COLUMNS: ColumnSpec[] = [
  { name: 'applicant_id', type: 'string', feature: false, maxMissing: 0 },
  { name: 'application_date', type: 'date', feature: false, maxMissing: 0 },
  { name: 'income', type: 'number', feature: true, range: [0, 2_000_000], maxMissing: 0.02 },
  { name: 'debt_ratio', type: 'number', feature: true, range: [0, 5], maxMissing: 0.02 },
  { name: 'credit_utilization', type: 'number', feature: true, range: [0, 1.5], maxMissing: 0.02 },
  { name: 'num_delinquencies', type: 'integer', feature: true, range: [0, 30], maxMissing: 0.02 },
  { name: 'credit_history_months', type: 'integer', feature: true, range: [0, 720], maxMissing: 0.02 },
  { name: 'num_open_accounts', type: 'integer', feature: true, range: [0, 60], maxMissing: 0.02 },
  { name: 'loan_amount', type: 'number', feature: true, range: [500, 500_000], maxMissing: 0.02 },
  { name: 'age_band', type: 'category', feature: true, values: [...AGE_BANDS], maxMissing: 0.02 },
  { name: 'protected_group', type: 'category', feature: false, values: ['A', 'B'], maxMissing: 0 },
  { name: 'default', type: 'label', feature: false, values: ['0', '1'], maxMissing: 0 },
];

export const LABEL_COLUMN = 'default';
export const PROTECTED_COLUMN = 'protected_group';

/** A row as parsed from CSV: numbers are numbers, missing values are null. */
export type CreditRow = Record<string, string | number | null>;
