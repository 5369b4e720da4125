import { parseArgs } from 'node:util';
import { FLAGS, envName, type FlagName, type FlagValues, type FlagSpec } from './flags.js';

export type LoadResult<N extends FlagName> =
  | { readonly kind: 'ok'; readonly config: FlagValues<N> }
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string };

/**
 * Loads the flags named in `names` from argv (wins) and SKEIN_* env vars. Unknown flags are errors
 * (a typo must not silently fall back to a default); a message names the flag and the fix.
 */
export function loadConfig<N extends FlagName>(names: readonly N[], argv: readonly string[], env: NodeJS.ProcessEnv): LoadResult<N> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const n of names) options[n] = { type: (FLAGS[n] as FlagSpec).boolean ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: false, strict: true });
  } catch (e) {
    return { kind: 'error', message: `${e instanceof Error ? e.message : String(e)} (run with --help for the list of flags)` };
  }
  if (parsed.values['help'] === true) return { kind: 'help' };
  const config: Record<string, unknown> = {};
  for (const n of names) {
    const spec: FlagSpec = FLAGS[n];
    let raw: unknown = parsed.values[n];
    if (raw === undefined && env[envName(n)] !== undefined) raw = env[envName(n)];
    const result = spec.schema.safeParse(raw);
    if (!result.success) {
      const issue = result.error.issues[0];
      return { kind: 'error', message: `--${n} (or ${envName(n)}): ${issue?.message ?? 'invalid value'}; got ${JSON.stringify(raw)}` };
    }
    config[n] = result.data;
  }
  return { kind: 'ok', config: config as FlagValues<N> };
}

export function formatHelp(command: string, summary: string, names: readonly FlagName[]): string {
  const lines = [`Usage: skein ${command} [flags]`, '', summary, '', 'Flags (each also settable as an environment variable):'];
  for (const n of names) {
    const spec: FlagSpec = FLAGS[n];
    lines.push(`  --${n}${spec.boolean ? '' : ' VALUE'}`);
    lines.push(`      ${spec.description}`);
    lines.push(`      default: ${spec.defaultText}   env: ${envName(n)}`);
  }
  lines.push('  --help', '      Print this help.');
  return lines.join('\n') + '\n';
}
