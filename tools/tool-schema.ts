// Derives what planners see of a tool from its zod input: a JSON Schema, reduced to the
// OpenAPI-3 subset that Gemini function declarations accept.
import type { z } from 'zod';
import { toJSONSchema as zod4ToJsonSchema } from 'zod/v4';
import { zodToJsonSchema } from 'zod-to-json-schema';
import type { ToolSpec } from '../src/agent/planner.js';
import type { AnyTool } from './define-tool.js';

type Json = Record<string, unknown>;

/** A tool whose input cannot be declared to Gemini; the message names the tool and the path. */
export class ToolSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolSchemaError';
  }
}

/**
 * The JSON Schema (draft 7) of a zod schema, with every `$ref` inlined. Accepts zod 3 and
 * zod 4 (`zod/v4`) schemas: zod-to-json-schema returns an empty schema for zod 4 objects
 * without complaint, so those go through zod 4's own converter.
 */
export function toJsonSchema(schema: z.ZodTypeAny): Json {
  const isZod4 = typeof schema === 'object' && schema !== null && '_zod' in schema;
  let json: Json;
  try {
    json = isZod4
      ? (zod4ToJsonSchema(schema as never, { target: 'draft-7', io: 'input', unrepresentable: 'throw' }) as Json)
      : (zodToJsonSchema(schema, { target: 'jsonSchema7', $refStrategy: 'none' }) as Json);
  } catch (err) {
    throw new ToolSchemaError(
      `cannot convert the zod schema to JSON Schema (is it a zod schema?): ${(err as Error).message}`,
    );
  }
  const { $schema: _ignored, ...rest } = json;
  if (
    rest.type === undefined &&
    rest.anyOf === undefined &&
    rest.oneOf === undefined &&
    rest.allOf === undefined &&
    rest.$ref === undefined
  ) {
    throw new ToolSchemaError(
      `converting the zod schema produced an empty JSON Schema (${JSON.stringify(json)}); is it a zod schema at all?`,
    );
  }
  return rest;
}

const STRING_FORMATS = new Set(['date-time']);
const NUMBER_FORMATS = new Set(['float', 'double']);
const INTEGER_FORMATS = new Set(['int32', 'int64']);
const PRIMITIVES = new Set(['string', 'number', 'integer', 'boolean', 'array', 'object']);
const MAX_REF_DEPTH = 32;

/**
 * Reduces a JSON Schema to the `Schema` subset of Gemini function declarations: type, format,
 * description, nullable, enum, properties, required, items, minItems, maxItems. Unions of
 * literals become enums and unions with null become `nullable`; constraints Gemini cannot
 * hold (minimum, pattern, default...) move into the description so the model still reads
 * them (the gate validates the real input anyway). Anything else throws ToolSchemaError.
 */
export function toGeminiParameters(jsonSchema: Json): Json {
  return convert(jsonSchema, jsonSchema, '(root)', 0);
}

function convert(node: Json, root: Json, path: string, depth: number): Json {
  if (depth > MAX_REF_DEPTH)
    throw new ToolSchemaError(`${path}: schema nests too deeply (a recursive $ref?); Gemini needs a finite schema`);
  if (typeof node.$ref === 'string')
    return withOuterDescription(convert(resolveRef(node.$ref, root, path), root, path, depth + 1), node);

  const union = (node.anyOf ?? node.oneOf) as Json[] | undefined;
  if (Array.isArray(union)) return withOuterDescription(convertUnion(union, root, path, depth), node);
  if (Array.isArray(node.allOf))
    return withOuterDescription(convertAllOf(node.allOf as Json[], root, path, depth), node);

  let type = node.type;
  let nullable = node.nullable === true;
  if (Array.isArray(type)) {
    const nonNull = type.filter((t) => t !== 'null');
    nullable ||= nonNull.length < type.length;
    if (nonNull.length !== 1)
      throw new ToolSchemaError(
        `${path}: a value of several types (${nonNull.join(', ')}) cannot be declared to Gemini; use one type`,
      );
    type = nonNull[0];
  }
  if (type === undefined && node.const !== undefined) type = jsonTypeOf(node.const);
  if (type === undefined && Array.isArray(node.enum) && node.enum.length > 0) type = jsonTypeOf(node.enum[0]);
  if (typeof type !== 'string' || !PRIMITIVES.has(type)) {
    throw new ToolSchemaError(
      `${path}: Gemini needs a concrete type here, got ${JSON.stringify(type ?? 'none')} (z.any(), z.unknown() and z.never() cannot be declared)`,
    );
  }

  const out: Json = { type };
  const notes: string[] = [];
  const values = node.const !== undefined ? [node.const] : Array.isArray(node.enum) ? node.enum : undefined;
  if (values) {
    if (type === 'string' && values.every((v) => typeof v === 'string')) {
      out.format = 'enum';
      out.enum = values;
    } else {
      notes.push(`one of ${values.map((v) => JSON.stringify(v)).join(', ')}`);
    }
  }
  if (typeof node.format === 'string' && out.format === undefined) {
    const allowed =
      type === 'string'
        ? STRING_FORMATS
        : type === 'number'
          ? NUMBER_FORMATS
          : type === 'integer'
            ? INTEGER_FORMATS
            : new Set<string>();
    if (allowed.has(node.format)) out.format = node.format;
    else notes.push(`format ${node.format}`);
  }

  if (type === 'object') {
    const properties = (node.properties ?? {}) as Record<string, Json>;
    const keys = Object.keys(properties);
    if (keys.length === 0 && depth > 0) {
      throw new ToolSchemaError(
        `${path}: an object without declared keys (z.record, z.object({}) or a free-form map) cannot be declared to Gemini; declare its keys or use an array of { key, value } objects`,
      );
    }
    if (keys.length === 0 && isSchema(node.additionalProperties)) {
      throw new ToolSchemaError(
        `${path}: a map with free keys (z.record) cannot be declared to Gemini; declare its keys or use an array of { key, value } objects`,
      );
    }
    const converted: Record<string, Json> = {};
    for (const key of keys) converted[key] = convert(properties[key]!, root, `${path}.${key}`, depth + 1);
    out.properties = converted;
    if (Array.isArray(node.required) && node.required.length > 0)
      out.required = node.required.filter((k) => typeof k === 'string' && k in converted);
  }
  if (type === 'array') {
    if (!isSchema(node.items))
      throw new ToolSchemaError(
        `${path}: an array needs one schema for its items (tuples cannot be declared to Gemini)`,
      );
    out.items = convert(node.items, root, `${path}[]`, depth + 1);
    if (typeof node.minItems === 'number') out.minItems = node.minItems;
    if (typeof node.maxItems === 'number') out.maxItems = node.maxItems;
  }

  for (const [key, label] of CONSTRAINTS)
    if (node[key] !== undefined) notes.push(`${label} ${JSON.stringify(node[key])}`);
  const description = joinDescription(typeof node.description === 'string' ? node.description : undefined, notes);
  if (description !== undefined) out.description = description;
  if (nullable) out.nullable = true;
  return out;
}

const CONSTRAINTS: [string, string][] = [
  ['minimum', 'minimum'],
  ['exclusiveMinimum', 'greater than'],
  ['maximum', 'maximum'],
  ['exclusiveMaximum', 'less than'],
  ['multipleOf', 'multiple of'],
  ['minLength', 'min length'],
  ['maxLength', 'max length'],
  ['pattern', 'pattern'],
  ['default', 'default'],
];

function convertUnion(members: Json[], root: Json, path: string, depth: number): Json {
  const nonNull = members.filter((m) => m.type !== 'null');
  const nullable = nonNull.length < members.length;
  if (nonNull.length === 0)
    throw new ToolSchemaError(`${path}: a value that can only be null cannot be declared to Gemini`);
  let out: Json;
  if (nonNull.length === 1) {
    out = convert(nonNull[0]!, root, path, depth + 1);
  } else {
    const converted = nonNull.map((m, i) => convert(m, root, `${path}|${i}`, depth + 1));
    if (converted.every((c) => c.type === 'string' && Array.isArray(c.enum))) {
      const values = [...new Set(converted.flatMap((c) => c.enum as string[]))];
      out = { type: 'string', format: 'enum', enum: values };
    } else {
      const kinds = converted.map((c) => (Array.isArray(c.enum) ? `${String(c.type)} literal` : String(c.type)));
      throw new ToolSchemaError(
        `${path}: a union of ${kinds.join(' | ')} cannot be declared to Gemini; only unions of string literals and unions with null can. Split the tool or use one object with optional fields`,
      );
    }
  }
  return nullable ? { ...out, nullable: true } : out;
}

function convertAllOf(members: Json[], root: Json, path: string, depth: number): Json {
  if (members.length === 1) return convert(members[0]!, root, path, depth + 1);
  const converted = members.map((m, i) => convert(m, root, `${path}&${i}`, depth + 1));
  if (!converted.every((c) => c.type === 'object')) {
    throw new ToolSchemaError(`${path}: an intersection of non-objects cannot be declared to Gemini`);
  }
  const properties: Record<string, Json> = {};
  const required = new Set<string>();
  for (const c of converted) {
    Object.assign(properties, c.properties as Record<string, Json>);
    for (const key of (c.required as string[] | undefined) ?? []) required.add(key);
  }
  return required.size > 0 ? { type: 'object', properties, required: [...required] } : { type: 'object', properties };
}

function resolveRef(ref: string, root: Json, path: string): Json {
  if (!ref.startsWith('#')) throw new ToolSchemaError(`${path}: external $ref ${ref} cannot be inlined`);
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').filter(Boolean)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = isSchema(node) ? node[key] : undefined;
  }
  if (!isSchema(node)) throw new ToolSchemaError(`${path}: $ref ${ref} points nowhere`);
  return node;
}

function withOuterDescription(inner: Json, outer: Json): Json {
  return typeof outer.description === 'string' ? { ...inner, description: outer.description } : inner;
}

function joinDescription(description: string | undefined, notes: string[]): string | undefined {
  if (notes.length === 0) return description;
  const suffix = `(${notes.join('; ')})`;
  return description ? `${description} ${suffix}` : suffix;
}

function jsonTypeOf(value: unknown): string | undefined {
  if (typeof value === 'string' || typeof value === 'boolean') return typeof value;
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return undefined;
}

function isSchema(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a planner sees of one tool; throws ToolSchemaError naming the tool when its input cannot be declared. */
export function toolSpec(tool: AnyTool): ToolSpec {
  // Gemini's rule for function names; OpenAI's is the same minus the dot.
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(tool.name)) {
    throw new ToolSchemaError(
      `tool name ${JSON.stringify(tool.name)} is not a valid function name: use letters, digits and _ (at most 64, not starting with a digit)`,
    );
  }
  try {
    const parameters = toGeminiParameters(toJsonSchema(tool.input));
    if (parameters.type !== 'object')
      throw new ToolSchemaError(`the input must be a zod object, got ${String(parameters.type)}`);
    return { name: tool.name, description: tool.description, parameters };
  } catch (err) {
    throw new ToolSchemaError(`tool ${tool.name}: ${(err as Error).message}`);
  }
}

export function toolSpecs(tools: readonly AnyTool[]): ToolSpec[] {
  const seen = new Set<string>();
  return tools.map((tool) => {
    if (seen.has(tool.name)) throw new ToolSchemaError(`tool ${tool.name} is listed twice; tool names must be unique`);
    seen.add(tool.name);
    return toolSpec(tool);
  });
}
