#!/usr/bin/env node
// Generates src/models.ts (types only) from the server's schemas:
//   ../../schemas/openapi.yaml   components.schemas  (REST bodies)
//   ../../schemas/asyncapi.yaml  components.schemas  (WebSocket messages)
//
//   node scripts/generate-models.mjs            write src/models.ts
//   node scripts/generate-models.mjs --check    exit 1 if src/models.ts is not what the YAML gives
//   --schemas DIR                               read the YAML files from DIR instead
//
// A small JSON Schema -> TypeScript translation covering what the generated YAML uses:
// $ref, type (also lists with 'null'), enum, const, properties, required, additionalProperties,
// items, oneOf/anyOf (unions; constraint-only branches are ignored), allOf (intersections),
// and a string pattern of the form ^(a|b):.+$ (as a template literal type).
// Objects without `additionalProperties: false` get an index signature, as JSON Schema allows
// extra keys there.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const args = process.argv.slice(2);
const check = args.includes('--check');
const dirArg = args.indexOf('--schemas');
const schemasDir = dirArg >= 0 ? resolve(args[dirArg + 1]) : resolve(root, '../../schemas');
const outFile = join(root, 'src', 'models.ts');

/** Schema names that would clash with TypeScript globals get a clearer name. */
const RENAME = { Error: 'ErrorResponse', ValidationError: 'ValidationErrorResponse' };
const typeName = (name) => RENAME[name] ?? name;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (k) => (IDENT.test(k) ? k : JSON.stringify(k));
const pad = (n) => '  '.repeat(n);

function doc(schema, ind) {
  const parts = [];
  if (schema && typeof schema === 'object') {
    if (schema.description) parts.push(String(schema.description));
    if (schema.default !== undefined) parts.push(`@default ${JSON.stringify(schema.default)}`);
  }
  if (!parts.length) return '';
  const text = parts.join('\n').replace(/\*\//g, '*\\/');
  const lines = text.split('\n');
  if (lines.length === 1) return `${pad(ind)}/** ${lines[0]} */\n`;
  return `${pad(ind)}/**\n${lines.map((l) => `${pad(ind)} * ${l}`.trimEnd()).join('\n')}\n${pad(ind)} */\n`;
}

/** A branch of oneOf/anyOf that only adds constraints (e.g. `{required: [...]}`) is no type. */
function isTypeful(s) {
  if (s === true || s === false) return true;
  return ['$ref', 'type', 'const', 'enum', 'properties', 'items', 'oneOf', 'anyOf', 'allOf']
    .some((k) => k in s);
}

function union(types) {
  // flatten simple unions ("number | null") so that members are not repeated
  const flat = types.flatMap((t) => (/[{(<]/.test(t) ? [t] : t.split(' | ')));
  const uniq = [...new Set(flat)];
  if (uniq.includes('unknown')) return 'unknown';
  return uniq.length === 1 ? uniq[0] : uniq.map((t) => (t.includes('=>') ? `(${t})` : t)).join(' | ');
}

function isObjectSchema(s) {
  const t = s.type;
  return t === 'object' || (t === undefined && ('properties' in s || 'required' in s
    || 'additionalProperties' in s));
}

function objectType(s, ind) {
  const props = s.properties ?? {};
  const required = new Set(s.required ?? []);
  const keys = [...Object.keys(props), ...[...required].filter((k) => !(k in props))];
  const addl = s.additionalProperties;
  const addlType = addl === false ? null : addl === undefined || addl === true ? 'unknown'
    : tsType(addl, ind + 1);
  const lines = [];
  const memberTypes = [];
  for (const k of keys) {
    const ps = props[k];
    const t = ps === undefined ? (addlType ?? 'unknown') : tsType(ps, ind + 1);
    memberTypes.push(t);
    lines.push(`${doc(ps, ind + 1)}${pad(ind + 1)}${key(k)}${required.has(k) ? '' : '?'}: ${t};`);
  }
  if (addlType !== null) {
    const optional = keys.some((k) => !required.has(k)) ? ['undefined'] : [];
    const idx = addlType === 'unknown' ? 'unknown' : union([addlType, ...memberTypes, ...optional]);
    lines.push(`${pad(ind + 1)}[key: string]: ${idx};`);
  }
  if (!lines.length) return 'Record<string, never>';
  return `{\n${lines.join('\n')}\n${pad(ind)}}`;
}

/**
 * A string pattern `^(a|b|c):.+$` (the analysis module names) as the template literal type
 * `${"a" | "b" | "c"}:${string}`; any other pattern is just `string`.
 */
function patternType(pattern) {
  const m = /^\^\(([A-Za-z0-9_]+(?:\|[A-Za-z0-9_]+)*)\)(:|-|_|\.)\.\+\$$/.exec(pattern ?? '');
  if (!m) return 'string';
  return `\`\${${m[1].split('|').map((w) => JSON.stringify(w)).join(' | ')}}${m[2]}\${string}\``;
}

function primitive(t, s, ind) {
  switch (t) {
    case 'null': return 'null';
    case 'string': return patternType(s.pattern);
    case 'number': case 'integer': return 'number';
    case 'boolean': return 'boolean';
    case 'array': {
      const item = s.items === undefined ? 'unknown' : tsType(s.items, ind);
      return /^[A-Za-z0-9_$]+$/.test(item) ? `${item}[]` : `Array<${item}>`;
    }
    case 'object': return objectType(s, ind);
    default: throw new Error(`unsupported type ${JSON.stringify(t)}`);
  }
}

function tsType(s, ind = 0) {
  if (s === true || s === undefined) return 'unknown';
  if (s === false) return 'never';
  if (s.$ref) {
    const m = /^#\/components\/schemas\/(.+)$/.exec(s.$ref);
    if (!m) throw new Error(`unsupported $ref ${s.$ref}`);
    return typeName(m[1]);
  }
  if ('const' in s) return JSON.stringify(s.const);
  if (s.enum) return union(s.enum.map((v) => JSON.stringify(v)));
  let base;
  if (Array.isArray(s.type)) base = union(s.type.map((t) => primitive(t, s, ind)));
  else if (s.type !== undefined) base = primitive(s.type, s, ind);
  else if (isObjectSchema(s)) base = objectType(s, ind);
  const alts = (s.oneOf ?? s.anyOf ?? []).filter(isTypeful);
  if (alts.length) {
    const u = union(alts.map((a) => tsType(a, ind)));
    base = base === undefined ? u : `(${base}) & (${u})`;
  }
  if (s.allOf) {
    const parts = s.allOf.map((a) => tsType(a, ind));
    if (base !== undefined) parts.push(base);
    base = parts.map((p) => (p.includes('|') ? `(${p})` : p)).join(' & ');
  }
  return base ?? 'unknown';
}

function emit(name, schema) {
  const t = tsType(schema, 0);
  const head = doc(schema, 0);
  const plainObject = !Array.isArray(schema.type) && isObjectSchema(schema) && !schema.allOf
    && !(schema.oneOf ?? schema.anyOf ?? []).some(isTypeful);
  if (plainObject) return `${head}export interface ${typeName(name)} ${t}\n`;
  return `${head}export type ${typeName(name)} = ${t};\n`;
}

const openapi = parse(readFileSync(join(schemasDir, 'openapi.yaml'), 'utf8'));
const asyncapi = parse(readFileSync(join(schemasDir, 'asyncapi.yaml'), 'utf8'));
const restSchemas = openapi.components.schemas;
const wsSchemas = asyncapi.components.schemas;

const out = [
  '// Generated by scripts/generate-models.mjs from schemas/openapi.yaml and schemas/asyncapi.yaml',
  '// -- do not edit by hand. Regenerate with: npm run generate',
  '/* eslint-disable */',
  '',
  `/** The REST operations of openapi.yaml (the /api routes; compatibility routes left out). */`,
  `export type OperationId =\n${Object.values(openapi.paths).flatMap((item) => Object.values(item))
    .map((op) => op && op.operationId)
    // the compatibility routes and the CORS preflights (the browser's) are not SDK methods
    .filter((id) => id && !id.startsWith('compat_') && !id.startsWith('preflight'))
    .map((id) => `  | ${JSON.stringify(id)}`).join('\n')};`,
  '',
  '// ----------------------------------------------------------------- REST (openapi.yaml)',
  '',
];
for (const [name, schema] of Object.entries(restSchemas)) out.push(emit(name, schema));
out.push('// ------------------------------------------------------------ WebSocket (asyncapi.yaml)', '');
for (const [name, schema] of Object.entries(wsSchemas)) {
  if (name in restSchemas) {
    if (!isDeepStrictEqual(schema, restSchemas[name])) {
      throw new Error(`schema ${name} differs between openapi.yaml and asyncapi.yaml`);
    }
    continue; // the same schema, emitted once
  }
  out.push(emit(name, schema));
}
const text = out.join('\n');

if (check) {
  let current = '';
  try { current = readFileSync(outFile, 'utf8'); } catch { /* missing */ }
  if (current !== text) {
    console.error(`src/models.ts is out of date with ${schemasDir}; run: npm run generate`);
    process.exit(1);
  }
  console.log('src/models.ts is up to date');
} else {
  writeFileSync(outFile, text);
  console.log(`wrote ${outFile}`);
}
