import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resolveServerlessYaml } from './yaml-resolver';

const execFileAsync = promisify(execFile);

/** How to obtain the resolved service definition. */
export type ConfigSource = 'auto' | 'print' | 'yaml';

/** Where and how to load the service definition. */
export interface LoadConfigOptions {
  /** Directory holding serverless.yml. */
  serviceDir: string;
  stage?: string | undefined;
  source: ConfigSource;
  env: Record<string, string | undefined>;
  /** Upper bound for `serverless print` (it takes ~4 s here). */
  printTimeoutMs?: number;
  /** Called when `auto` falls back from print to the yaml resolver. */
  onFallback?: (reason: string) => void;
}

/** A loaded definition and which loader produced it (shown in the startup log). */
export interface LoadedConfig {
  config: unknown;
  via: 'print' | 'yaml';
}

/**
 * Loads the resolved service definition: `serverless print --format json` (the reference
 * resolution, includes plugins' variable sources), or the built-in yaml resolver, or print with the
 * resolver as fallback (`auto`).
 *
 * @param options - directory, stage, source and environment
 */
export async function loadServiceConfig(options: LoadConfigOptions): Promise<LoadedConfig> {
  const { source } = options;
  if (source === 'yaml') return { config: loadViaYaml(options), via: 'yaml' };
  try {
    return { config: await loadViaPrint(options), via: 'print' };
  } catch (err) {
    if (source === 'print') throw err;
    const reason = err instanceof Error ? err.message : String(err);
    options.onFallback?.(reason);
    try {
      return { config: loadViaYaml(options), via: 'yaml' };
    } catch (yamlErr) {
      const yamlReason = yamlErr instanceof Error ? yamlErr.message : String(yamlErr);
      throw new Error(
        `cannot load the service definition.\n  serverless print: ${reason}\n  yaml: ${yamlReason}`,
      );
    }
  }
}

async function loadViaPrint(options: LoadConfigOptions): Promise<unknown> {
  // The local binary starts faster than npx and cannot pull a different serverless version.
  const localBin = join(options.serviceDir, 'node_modules', '.bin', 'serverless');
  const [cmd, prefix] = existsSync(localBin) ? [localBin, []] : ['npx', ['--no-install', 'serverless']];
  const args = [...prefix, 'print', '--format', 'json', ...(options.stage ? ['--stage', options.stage] : [])];
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(cmd, args, {
      cwd: options.serviceDir,
      env: { ...process.env, ...options.env },
      timeout: options.printTimeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    }));
  } catch (err) {
    // osls writes the error itself on stdout and only its environment banner on stderr.
    const { stdout: out, stderr } = err as { stdout?: unknown; stderr?: unknown };
    const text = [out, stderr].filter((t): t is string => typeof t === 'string').join('\n');
    const lines = text.split('\n').map((l) => l.trim());
    const detail = lines
      .filter((l) => l !== '' && l !== 'Error:')
      .slice(0, 3)
      .join(' | ');
    throw new Error(`serverless print failed: ${detail || String(err)}`);
  }
  // Plugins may log before the JSON document; it is the outermost {...}.
  const start = stdout.indexOf('{');
  const end = stdout.lastIndexOf('}');
  if (start < 0 || end < start) throw new Error('serverless print produced no JSON');
  return JSON.parse(stdout.slice(start, end + 1));
}

function loadViaYaml(options: LoadConfigOptions): unknown {
  return resolveServerlessYaml(join(options.serviceDir, 'serverless.yml'), {
    env: options.env,
    opt: { stage: options.stage, region: undefined },
  });
}
