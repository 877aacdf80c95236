// The runbooks room: parsing the markdown runbooks in prompts/runbooks (front matter = alerts and steps).
export {
  isStopStep,
  loadRunbooks,
  mitigationSteps,
  parseRunbook,
  recheckAfterMs,
  runbookFor,
  type Runbook,
  type RunbookStep,
} from './runbook.js';
