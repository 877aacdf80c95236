import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { z as z4 } from 'zod/v4';
import { allTools } from '../../../tools/index.js';
import { toGeminiParameters, toJsonSchema, toolSpec, toolSpecs, ToolSchemaError } from '../../../tools/tool-schema.js';
import type { AnyTool } from '../../../tools/define-tool.js';

const FORBIDDEN = [
  '$schema',
  'additionalProperties',
  '$ref',
  'anyOf',
  'oneOf',
  'allOf',
  'default',
  'const',
  '$defs',
  'definitions',
];

/** Every key used anywhere in a schema, with its path, except the names of declared properties. */
function schemaKeys(node: unknown, path = '', out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((item, i) => schemaKeys(item, `${path}[${i}]`, out));
  else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'properties' && typeof value === 'object' && value !== null) {
        for (const [name, sub] of Object.entries(value)) schemaKeys(sub, `${path}.${name}`, out);
      } else {
        out.push(`${path}:${key}`);
        schemaKeys(value, `${path}.${key}`, out);
      }
    }
  }
  return out;
}

function forbiddenKeys(schema: unknown): string[] {
  return schemaKeys(schema).filter((entry) => FORBIDDEN.includes(entry.slice(entry.lastIndexOf(':') + 1)));
}

/** The keys of a tool's zod object, looking through refinements and transforms. */
function zodObjectKeys(schema: z.ZodTypeAny): string[] {
  let node: any = schema;
  for (let i = 0; i < 10 && node; i++) {
    if (node instanceof z.ZodObject) return Object.keys(node.shape);
    node = node._def?.schema ?? node._def?.innerType ?? node._def?.in;
  }
  throw new Error('the tool input is not a zod object');
}

function toolOf(name: string, input: z.ZodTypeAny): AnyTool {
  return { name, description: `the ${name} tool`, input } as unknown as AnyTool;
}

describe('the tools in allTools', () => {
  it('are five or more, with unique names', () => {
    expect(allTools.length).toBeGreaterThanOrEqual(5);
    expect(new Set(allTools.map((t) => t.name)).size).toBe(allTools.length);
  });

  for (const tool of allTools) {
    describe(tool.name, () => {
      it('has a JSON Schema listing every key of its zod object', () => {
        const json = toJsonSchema(tool.input);
        const keys = zodObjectKeys(tool.input);
        expect(keys.length).toBeGreaterThan(0);
        expect(json.type).toBe('object');
        expect(Object.keys(json.properties as object).sort()).toEqual(keys.sort());
      });

      it('converts to Gemini parameters with nothing Gemini rejects anywhere', () => {
        const spec = toolSpec(tool);
        expect(spec.name).toBe(tool.name);
        expect(spec.description.length).toBeGreaterThan(20);
        expect(forbiddenKeys(spec.parameters)).toEqual([]);
        expect(spec.parameters.type).toBe('object');
        expect(Object.keys(spec.parameters.properties as object).sort()).toEqual(zodObjectKeys(tool.input).sort());
      });
    });
  }
});

describe('toJsonSchema', () => {
  it('lists the properties of a zod 4 object, which zod-to-json-schema would silently drop', () => {
    const json = toJsonSchema(z4.object({ modelName: z4.string(), percent: z4.number() }) as unknown as z.ZodTypeAny);
    expect(Object.keys(json.properties as object).sort()).toEqual(['modelName', 'percent']);
    expect(json.$schema).toBeUndefined();
  });

  it('refuses a value that is not a zod schema', () => {
    expect(() => toJsonSchema({} as z.ZodTypeAny)).toThrow(/is it a zod schema/);
  });
});

describe('toGeminiParameters', () => {
  const convert = (schema: z.ZodTypeAny) => toGeminiParameters(toJsonSchema(schema));

  it('turns a union of string literals into an enum', () => {
    const out = convert(z.object({ env: z.union([z.literal('staging'), z.literal('production')]).describe('where') }));
    expect(out.properties).toEqual({
      env: { type: 'string', format: 'enum', enum: ['staging', 'production'], description: 'where' },
    });
  });

  it('turns a union of zod enums into one enum without duplicates', () => {
    const out = convert(z.object({ e: z.union([z.enum(['a', 'b']), z.enum(['b', 'c'])]) }));
    expect(out.properties).toEqual({ e: { type: 'string', format: 'enum', enum: ['a', 'b', 'c'] } });
  });

  it('turns a nullable value into nullable: true, for primitives, enums and objects', () => {
    const out = convert(
      z.object({
        s: z.string().nullable(),
        e: z.enum(['x', 'y']).nullable(),
        o: z.object({ n: z.number() }).nullable().optional(),
      }),
    );
    expect(out.properties).toEqual({
      s: { type: 'string', nullable: true },
      e: { type: 'string', format: 'enum', enum: ['x', 'y'], nullable: true },
      o: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'], nullable: true },
    });
    expect(out.required).toEqual(['s', 'e']);
  });

  it('keeps nested objects and arrays with their required keys and item bounds', () => {
    const out = convert(
      z
        .object({
          rows: z
            .array(z.object({ id: z.string(), score: z.number().optional() }))
            .min(1)
            .max(10),
        })
        .strict(),
    );
    expect(out).toEqual({
      type: 'object',
      properties: {
        rows: {
          type: 'array',
          minItems: 1,
          maxItems: 10,
          items: {
            type: 'object',
            properties: { id: { type: 'string' }, score: { type: 'number' } },
            required: ['id'],
          },
        },
      },
      required: ['rows'],
    });
  });

  it('moves constraints and defaults Gemini cannot hold into the description', () => {
    const out = convert(
      z.object({
        percent: z.number().int().min(1).max(50).default(5).describe('traffic share'),
        url: z.string().url(),
      }),
    );
    const props = out.properties as Record<string, Record<string, unknown>>;
    expect(props.percent).toEqual({ type: 'integer', description: 'traffic share (minimum 1; maximum 50; default 5)' });
    expect(props.url).toEqual({ type: 'string', description: '(format uri)' });
    expect(out.required).toEqual(['url']);
  });

  it('keeps the date-time format and a single literal as a one-value enum', () => {
    const out = convert(z.object({ at: z.string().datetime(), kind: z.literal('drift') }));
    expect(out.properties).toEqual({
      at: { type: 'string', format: 'date-time' },
      kind: { type: 'string', format: 'enum', enum: ['drift'] },
    });
  });

  it('inlines local $refs and merges an intersection of objects', () => {
    const out = toGeminiParameters({
      type: 'object',
      definitions: { id: { type: 'string', description: 'an id' } },
      properties: {
        a: { $ref: '#/definitions/id' },
        b: {
          allOf: [
            { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] },
            { type: 'object', properties: { y: { type: 'boolean' } } },
          ],
        },
      },
    });
    expect(out.properties).toEqual({
      a: { type: 'string', description: 'an id' },
      b: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'boolean' } }, required: ['x'] },
    });
    expect(forbiddenKeys(out)).toEqual([]);
  });

  it('refuses a union of different types with a message naming the path', () => {
    expect(() => convert(z.object({ v: z.union([z.string(), z.number()]) }))).toThrow(
      /\(root\)\.v: a value of several types \(string, number\)/,
    );
    expect(() =>
      convert(z.object({ target: z.object({ a: z.union([z.string(), z.object({ b: z.number() })]) }) })),
    ).toThrow(/\(root\)\.target\.a: a union of string \| object cannot be declared to Gemini/);
  });

  it('refuses a discriminated union of objects', () => {
    const action = z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('a'), x: z.number() }),
      z.object({ kind: z.literal('b') }),
    ]);
    expect(() => convert(z.object({ action }))).toThrow(ToolSchemaError);
  });

  it('refuses records and untyped values, suggesting what to use instead', () => {
    expect(() => convert(z.object({ params: z.record(z.number()) }))).toThrow(
      /\(root\)\.params: .*declare its keys or use an array of \{ key, value \} objects/,
    );
    expect(() => convert(z.object({ blob: z.unknown() }))).toThrow(/\(root\)\.blob: Gemini needs a concrete type/);
  });

  it('refuses a recursive $ref instead of looping', () => {
    const schema = {
      type: 'object',
      definitions: { node: { type: 'object', properties: { next: { $ref: '#/definitions/node' } } } },
      properties: { head: { $ref: '#/definitions/node' } },
    };
    expect(() => toGeminiParameters(schema)).toThrow(/nests too deeply/);
  });
});

describe('toolSpecs', () => {
  it('names the tool whose input cannot be declared', () => {
    expect(() => toolSpec(toolOf('bad_tool', z.object({ m: z.record(z.string()) })))).toThrow(
      /^tool bad_tool: \(root\)\.m:/,
    );
  });

  it('accepts a tool without arguments as an object with no properties', () => {
    expect(toolSpec(toolOf('ping', z.object({}))).parameters).toEqual({ type: 'object', properties: {} });
  });

  it('refuses a tool name that cannot be a function name', () => {
    expect(() => toolSpec(toolOf('deploy canary', z.object({ a: z.string() })))).toThrow(
      /"deploy canary" is not a valid function name/,
    );
  });

  it('refuses two tools with the same name', () => {
    const tool = toolOf('twice', z.object({ a: z.string() }));
    expect(() => toolSpecs([tool, tool])).toThrow(/tool twice is listed twice/);
  });
});
