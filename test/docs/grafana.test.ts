import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dashboardPath = join(root, 'docs', 'grafana', 'odin-grid.json');

type Panel = { title?: string; targets?: { expr?: string }[]; panels?: Panel[] };

function exprsOf(panels: readonly Panel[]): { title: string; expr: string }[] {
  return panels.flatMap((panel) => [
    ...(panel.targets ?? []).flatMap((t) =>
      typeof t.expr === 'string' ? [{ title: panel.title ?? '(untitled)', expr: t.expr }] : [],
    ),
    ...exprsOf(panel.panels ?? []),
  ]);
}

/** Every .ts source of the server and the operator, tests and docs left out. */
function sourceText(): string {
  const texts: string[] = [];
  for (const dir of ['server', 'operator']) {
    for (const file of readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })) {
      if (file.endsWith('.ts')) texts.push(readFileSync(join(root, dir, file), 'utf8'));
    }
  }
  return texts.join('\n');
}

/** Our series as the code names them; a histogram's `_bucket`/`_sum`/`_count` name its base. */
const SERIES = /\b(?:grid|odin_operator)_[a-z0-9_]+/g;
const HISTOGRAM_SUFFIX = /_(?:bucket|sum|count)$/;

const dashboard: { panels?: Panel[] } = JSON.parse(readFileSync(dashboardPath, 'utf8'));
const exprs = exprsOf(dashboard.panels ?? []);

test('the sample dashboard is valid JSON with panels that query Prometheus', () => {
  assert.ok(exprs.length >= 6, `only ${exprs.length} queries`);
});

test('every metric a dashboard panel queries exists in the server or operator code', () => {
  const source = sourceText();
  for (const { title, expr } of exprs) {
    const names = expr.match(SERIES) ?? [];
    assert.ok(names.length > 0, `panel "${title}": no grid_*/odin_operator_* series in ${expr}`);
    for (const name of names) {
      const defined = [name, name.replace(HISTOGRAM_SUFFIX, '')].some((n) => source.includes(`'${n}'`));
      assert.ok(defined, `panel "${title}": ${name} is not a metric name in server/ or operator/`);
    }
  }
});
