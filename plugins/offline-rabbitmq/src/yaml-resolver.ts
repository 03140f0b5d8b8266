import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';

/** Inputs for `${env:…}`, `${opt:…}` and `${sls:stage}`. */
export interface YamlResolveOptions {
  env: Record<string, string | undefined>;
  /** CLI options as `serverless … --stage x` would pass them. */
  opt: Record<string, string | undefined>;
}

type Obj = Record<string, unknown>;

/** The parts of the service definition the bridge reads; the rest (resources with CloudFormation
 * `${AWS::…}` substitutions, plugins) is left alone so it cannot break the fallback. */
const RESOLVED_KEYS = ['service', 'provider', 'functions'] as const;
const KNOWN_SOURCE = /^(env|opt|self|sls|file)\b/;
const MAX_DEPTH = 32;

/**
 * Reads serverless.yml and resolves the variables the bridge depends on, without the Serverless
 * CLI: `${file(./x.yml)}` (optionally `:a.b`), `${env:X, 'default'}`, `${opt:stage, 'dev'}`,
 * `${self:a.b}`, `${sls:stage}`, quoted/number fallbacks and nested variables.
 *
 * Fallback for when `serverless print` is unavailable or too slow; it is not a full implementation
 * (no ssm/cf/s3/aws sources: those resolve to their fallback, or stay literal without one).
 *
 * @param file - path of serverless.yml
 * @param options - environment and CLI options
 * @returns `{ service, provider, functions }` with variables resolved
 */
export function resolveServerlessYaml(file: string, options: YamlResolveOptions): Obj {
  const root = loadDocument(file);
  const resolver = new Resolver(root, dirname(resolve(file)), options);
  const out: Obj = {};
  for (const key of RESOLVED_KEYS) if (key in root) out[key] = resolver.node(root[key], 0);
  return out;
}

function loadDocument(file: string): Obj {
  // logLevel 'error': CloudFormation tags (!Ref, !Sub) are unknown to the yaml package; they only
  // appear under `resources`, which the bridge never reads.
  const doc: unknown = parse(readFileSync(file, 'utf8'), { logLevel: 'error' });
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new Error(`${file}: not a YAML mapping`);
  return doc as Obj;
}

class Resolver {
  constructor(
    private readonly root: Obj,
    private readonly baseDir: string,
    private readonly options: YamlResolveOptions,
  ) {}

  node(value: unknown, depth: number): unknown {
    if (depth > MAX_DEPTH) throw new Error('variable resolution too deep (cycle?)');
    if (typeof value === 'string') return this.string(value, depth);
    if (Array.isArray(value)) return value.map((v) => this.node(v, depth));
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.node(v, depth)]));
    }
    return value;
  }

  private string(text: string, depth: number): unknown {
    const spans = findVariables(text);
    if (spans.length === 0) return text;
    const [first] = spans;
    // A value that is exactly one variable keeps the referenced type (object, number).
    if (first && spans.length === 1 && first.start === 0 && first.end === text.length) {
      return this.variable(first.inner, text, depth);
    }
    let out = '';
    let at = 0;
    for (const span of spans) {
      out +=
        text.slice(at, span.start) +
        String(this.variable(span.inner, text.slice(span.start, span.end), depth));
      at = span.end;
    }
    return out + text.slice(at);
  }

  private variable(inner: string, literal: string, depth: number): unknown {
    const terms = splitTopLevel(inner);
    for (const term of terms) {
      const value = this.term(term, depth + 1);
      if (value !== undefined && value !== null) return value;
    }
    // `${AWS::Region}` and friends are CloudFormation's, not ours: keep them as written.
    if (!KNOWN_SOURCE.test(terms[0] ?? '')) return literal;
    throw new Error(`cannot resolve ${literal}: no value and no fallback`);
  }

  private term(raw: string, depth: number): unknown {
    const quoted = /^(['"])(.*)\1$/s.exec(raw);
    if (quoted) return quoted[2];
    if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
    if (raw.startsWith('${')) return this.string(raw, depth);
    // Nested variables inside a reference, e.g. ${env:URL_${opt:stage}}.
    const term = raw.includes('${') ? String(this.string(raw, depth)) : raw;

    const file = /^file\((.+?)\)(?::(.+))?$/.exec(term);
    if (file?.[1]) {
      const content = this.node(loadAny(resolve(this.baseDir, file[1].trim())), depth);
      return file[2] ? getPath(content, file[2]) : content;
    }
    const toBool = /^strToBool\((.*)\)$/s.exec(term);
    if (toBool) {
      const text = String(toBool[1]).trim().toLowerCase();
      if (text === 'true' || text === '1') return true;
      if (text === 'false' || text === '0') return false;
      throw new Error(`strToBool takes true, false, 1 or 0, got ${JSON.stringify(toBool[1])}`);
    }
    const colon = term.indexOf(':');
    if (colon < 0) return KNOWN_SOURCE.test(term) ? undefined : term;
    const source = term.slice(0, colon);
    const key = term.slice(colon + 1).trim();
    switch (source) {
      case 'env':
        return this.options.env[key];
      case 'opt':
        return this.options.opt[key];
      case 'sls':
        return key === 'stage'
          ? (this.options.opt.stage ?? this.self('provider.stage', depth) ?? 'dev')
          : undefined;
      case 'self':
        return this.self(key, depth);
      default:
        return undefined;
    }
  }

  private self(path: string, depth: number): unknown {
    return this.node(getPath(this.root, path), depth);
  }
}

function loadAny(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  return file.endsWith('.json') ? JSON.parse(text) : parse(text, { logLevel: 'error' });
}

function getPath(value: unknown, path: string): unknown {
  let current = value;
  for (const part of path.split('.').filter(Boolean)) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Obj)[part];
  }
  return current;
}

interface Span {
  start: number;
  end: number;
  inner: string;
}

/** Top-level `${…}` spans of a string, matching nested braces. */
function findVariables(text: string): Span[] {
  const spans: Span[] = [];
  let i = text.indexOf('${');
  while (i >= 0) {
    let depth = 0;
    let j = i;
    for (; j < text.length; j++) {
      if (text[j] === '{') depth++;
      else if (text[j] === '}' && --depth === 0) break;
    }
    if (j >= text.length) break;
    spans.push({ start: i, end: j + 1, inner: text.slice(i + 2, j).trim() });
    i = text.indexOf('${', j + 1);
  }
  return spans;
}

/** Splits `a, 'b, c', ${d, e}` on commas outside quotes and nested variables. */
function splitTopLevel(inner: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '{' || c === '(') depth++;
    else if (c === '}' || c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(inner.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(inner.slice(start).trim());
  return parts;
}
