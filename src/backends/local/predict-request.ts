// Validation of the model server's request bodies. Every rejection names the field, so
// a client can fix its request without reading the server's code.
import { ENVIRONMENTS, type Environment } from '../../../tools/ports.js';
import type { CreditRow } from './credit-schema.js';

/** A rejection with the HTTP status the server answers with. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

export const MAX_ROWS_PER_REQUEST = 1000;

export interface PredictRequest {
  model: string;
  environment: Environment;
  rows: CreditRow[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseRow(value: unknown, field: string): CreditRow {
  if (!isObject(value)) throw new RequestError(400, `${field} must be an object of feature: value`);
  const row: CreditRow = {};
  for (const [key, cell] of Object.entries(value)) {
    if (cell === null || typeof cell === 'string' || (typeof cell === 'number' && Number.isFinite(cell)))
      row[key] = cell;
    else throw new RequestError(400, `${field}.${key} must be a finite number, a string or null`);
  }
  return row;
}

export function parsePredictBody(body: unknown): PredictRequest {
  if (!isObject(body)) throw new RequestError(400, 'body must be a JSON object with "model" and "rows"');
  const { model, environment = 'production', rows, row } = body;
  if (typeof model !== 'string' || model === '') throw new RequestError(400, 'model must be a non-empty string');
  if (typeof environment !== 'string' || !(ENVIRONMENTS as readonly string[]).includes(environment)) {
    throw new RequestError(400, `environment must be one of ${ENVIRONMENTS.join(', ')}`);
  }
  let parsed: CreditRow[];
  if (rows !== undefined) {
    if (!Array.isArray(rows) || rows.length === 0)
      throw new RequestError(400, 'rows must be a non-empty array of objects');
    if (rows.length > MAX_ROWS_PER_REQUEST)
      throw new RequestError(400, `rows has ${rows.length} entries; at most ${MAX_ROWS_PER_REQUEST} per request`);
    parsed = rows.map((r, i) => parseRow(r, `rows[${i}]`));
  } else if (row !== undefined) {
    parsed = [parseRow(row, 'row')];
  } else {
    throw new RequestError(400, 'rows is missing: send "rows": [{...}] or a single "row": {...}');
  }
  return { model, environment: environment as Environment, rows: parsed };
}

export interface FeedbackRequest {
  /** True when the body was one `{ id, label }` rather than `{ labels: [...] }`. */
  single: boolean;
  labels: { id: string; label: 0 | 1 }[];
}

function parseLabel(value: unknown, field: string): { id: string; label: 0 | 1 } {
  if (!isObject(value)) throw new RequestError(400, `${field} must be an object { id, label }`);
  if (typeof value.id !== 'string' || value.id === '')
    throw new RequestError(400, `${field}.id must be the prediction id (a string)`);
  if (value.label !== 0 && value.label !== 1) throw new RequestError(400, `${field}.label must be 0 or 1`);
  return { id: value.id, label: value.label };
}

export function parseFeedbackBody(body: unknown): FeedbackRequest {
  if (!isObject(body)) throw new RequestError(400, 'body must be a JSON object { id, label } or { labels: [...] }');
  if (body.labels !== undefined) {
    if (!Array.isArray(body.labels) || body.labels.length === 0)
      throw new RequestError(400, 'labels must be a non-empty array of { id, label }');
    if (body.labels.length > MAX_ROWS_PER_REQUEST)
      throw new RequestError(400, `labels has ${body.labels.length} entries; at most ${MAX_ROWS_PER_REQUEST}`);
    return { single: false, labels: body.labels.map((l, i) => parseLabel(l, `labels[${i}]`)) };
  }
  return { single: true, labels: [parseLabel(body, 'body')] };
}
