// House rule (STYLE.md "Layout"): each folder with an index.ts is a module whose index.ts is its
// public face. Code outside a module may import only that face; files inside may import each other.
import { existsSync } from 'node:fs';
import path from 'node:path';

const moduleCache = new Map();

/** Nearest ancestor folder of `file` (below `root`) that has an index.ts, or undefined. */
function moduleOf(file, root) {
  let dir = path.dirname(file);
  while (dir.startsWith(root + path.sep)) {
    let has = moduleCache.get(dir);
    if (has === undefined) {
      has = existsSync(path.join(dir, 'index.ts'));
      moduleCache.set(dir, has);
    }
    if (has) return dir;
    dir = path.dirname(dir);
  }
  return undefined;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'modules import each other only through their index.ts' },
    schema: [],
    messages: {
      deep: "'{{spec}}' reaches inside module '{{module}}'; import '{{face}}' (its index) instead.",
    },
  },
  create(context) {
    const root = context.cwd;
    const file = context.filename;
    function check(node) {
      const spec = node.source && node.source.value;
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
      const mod = moduleOf(target, root);
      if (mod === undefined) return;
      if (file.startsWith(mod + path.sep)) return; // inside the same module
      if (target === path.join(mod, 'index.ts')) return;
      // Benchmarks (bench/) may reach the *.bench.ts hooks that live beside the code they measure.
      if (target.endsWith('.bench.ts') && path.relative(root, file).startsWith('bench' + path.sep)) return;
      let face = path.relative(path.dirname(file), path.join(mod, 'index.js'));
      if (!face.startsWith('.')) face = './' + face;
      context.report({ node: node.source, messageId: 'deep', data: { spec, module: path.relative(root, mod), face } });
    }
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: (n) => check({ source: n.source }) };
  },
};
