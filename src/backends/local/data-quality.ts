// The lab's DataQuality: checks a dataset against its data contract (contracts/*.yaml) and
// measures drift against a reference dataset (PSI, KS, and KL of the production model's
// scores). The verdict comes from the contract alone: drift is a reason to retrain, never
// a reason to fail data. Reports are stored per data version and looked up, not redone.
import { UserError } from '../../errors.js';
import type { ContractSet } from '../../contracts/index.js';
import type {
  ContractViolation,
  DataQuality,
  DataQualityFinding,
  DataQualityReport,
  DataVerdict,
} from '../../../tools/ports.js';
import type { Clock } from '../../clock.js';
import { systemClock } from '../../clock.js';
import { checkContract, columnSpecs, noContractViolation } from './contract-checks.js';
import { createDataCheckStore, reportHashOf, type DriftInputs } from './data-check-store.js';
import { datasetVersion, readDataset } from './dataset-store.js';
import { driftFindings } from './drift-findings.js';
import type { ModelArtifact } from './model-artifact.js';

export interface LocalDataQualityOptions {
  datasetsDir: string;
  /** Where reports are stored, per data version. */
  checksDir: string;
  contracts: ContractSet;
  /** The version of `model` serving production and its artifact, for prediction drift; undefined skips that measure. */
  scoreWith?: (model: string) => Promise<{ version: string; artifact: ModelArtifact } | undefined>;
  clock?: Clock;
}

const DRIFT_CHECKS = new Set(['psi', 'ks', 'prediction_kl']);

export function verdictOf(
  violations: readonly ContractViolation[],
  findings: readonly DataQualityFinding[],
): DataVerdict {
  const ids = (severity: 'hard' | 'soft') => [
    ...new Set(violations.filter((v) => v.severity === severity).map((v) => v.rule)),
  ];
  const failedChecks = ids('hard');
  const softFailures = ids('soft');
  return {
    passed: failedChecks.length === 0,
    failedChecks,
    softFailures,
    driftOnly: violations.length === 0,
    drifted: findings.some((f) => DRIFT_CHECKS.has(f.check) && f.severity !== 'info'),
  };
}

export function createLocalDataQuality(options: LocalDataQualityOptions): DataQuality {
  const { datasetsDir, contracts } = options;
  const clock = options.clock ?? systemClock;
  const store = createDataCheckStore(options.checksDir);
  const contractHash = (dataset: string) => contracts.forDataset(dataset)?.hash ?? 'none';

  return {
    async check(dataset, checkOptions = {}) {
      const contract = contracts.forDataset(dataset);
      const specs = contract ? columnSpecs(contract) : [];
      // Versions first, from the bytes: content checked before is looked up without parsing it.
      const dataVersion = await datasetVersion(datasetsDir, dataset);
      const notes: DataQualityFinding[] = [];
      let reference: string | null = checkOptions.reference ?? contract?.reference ?? null;
      let referenceVersion: string | null = null;
      if (reference === dataset) reference = null;
      if (reference !== null) {
        try {
          referenceVersion = await datasetVersion(datasetsDir, reference);
        } catch (err) {
          // An explicitly named reference must exist; a missing default only skips drift.
          if (checkOptions.reference !== undefined || !(err instanceof UserError && err.code === 'not_found'))
            throw err;
          notes.push(driftNotMeasured(`reference dataset "${reference}" not found: drift not measured`));
          reference = null;
        }
      } else if (!checkOptions.reference) {
        notes.push(
          driftNotMeasured(
            contract
              ? `no reference: drift not measured (the "${contract.name}" contract names none, or it is this dataset)`
              : 'no data contract: drift not measured',
          ),
        );
      }
      const scorer = reference !== null && contract?.model ? await options.scoreWith?.(contract.model) : undefined;
      const drift: DriftInputs = {
        reference,
        referenceVersion,
        model: scorer ? contract!.model : null,
        modelVersion: scorer?.version ?? null,
      };
      const hash = contract?.hash ?? 'none';
      const stored = await store.find(dataVersion, hash, drift);
      if (stored) return { ...stored, reused: true };

      const data = await readDataset(datasetsDir, dataset, specs);
      const ref = reference !== null ? await readDataset(datasetsDir, reference, specs) : undefined;
      const violations = contract ? checkContract(contract, data, clock.now()) : [noContractViolation(dataset)];
      const findings = [
        ...notes,
        ...(ref
          ? driftFindings(
              ref.rows,
              data.rows,
              specs,
              scorer?.artifact,
              scorer && `${contract!.model} v${scorer.version} (serving production)`,
            )
          : []),
      ];
      const verdict = verdictOf(violations, findings);
      const body: Omit<DataQualityReport, 'reportHash' | 'reused'> = {
        dataset,
        // What was read, should the file have changed since it was hashed above.
        dataVersion: data.dataVersion,
        contract: contract ? { name: contract.name, file: contract.file, hash: contract.hash } : null,
        reference,
        rows: data.rows.length,
        checkedAt: new Date(clock.now()).toISOString(),
        violations,
        findings,
        verdict,
        passed: verdict.passed,
      };
      const report: DataQualityReport = { ...body, reportHash: reportHashOf(body), reused: false };
      await store.save(report, hash, { ...drift, referenceVersion: ref?.dataVersion ?? null });
      return report;
    },

    async verdict(dataset) {
      const dataVersion = await datasetVersion(datasetsDir, dataset);
      const newest = await store.newest(dataVersion, contractHash(dataset));
      return {
        dataset,
        dataVersion,
        checked: newest !== undefined,
        verdict: newest?.verdict ?? null,
        reportHash: newest?.reportHash ?? null,
        checkedAt: newest?.checkedAt ?? null,
      };
    },
  };
}

/** The note a check carries when drift could not be measured, and why. */
function driftNotMeasured(message: string): DataQualityFinding {
  return { check: 'drift', column: null, value: null, threshold: null, severity: 'info', message };
}
