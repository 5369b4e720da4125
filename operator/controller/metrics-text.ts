// One /metrics page from several prom-client registries whose metric families share names (every
// cluster's shard controller registers skein_controller_* in its own registry, labelled with the
// cluster). prom-client's Registry.merge refuses duplicate names, and simply concatenating the texts
// would repeat a family's HELP/TYPE, which the exposition format forbids: group samples by family.
export function mergeExpositions(texts: readonly string[]): string {
  const families = new Map<string, { header: string[]; samples: string[] }>();
  const loose: string[] = [];
  for (const text of texts) {
    let current: { header: string[]; samples: string[] } | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta !== null) {
        const name = meta[2]!;
        let family = families.get(name);
        if (family === undefined) {
          family = { header: [], samples: [] };
          families.set(name, family);
        }
        if (!family.header.some((h) => h.startsWith(`# ${meta[1]} `))) family.header.push(line);
        current = family;
      } else if (current !== undefined) {
        current.samples.push(line);
      } else {
        loose.push(line);
      }
    }
  }
  const out: string[] = [];
  for (const f of families.values()) out.push(...f.header, ...f.samples);
  out.push(...loose);
  return out.join('\n') + '\n';
}
