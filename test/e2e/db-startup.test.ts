// With no database URL, nothing of the database appears and the driver is not loaded: `pg` sits in a
// chunk that mizual-metrics and mizual-alerts reach only through a dynamic import().
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT, runTool, scratchDir } from '../helpers/cli.js';

const DIST = path.join(ROOT, 'dist');

/** Files an entry loads at start-up: its static imports, transitively (dynamic import() left out). */
function staticClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(path.join(DIST, file), 'utf8');
    for (const m of text.matchAll(/(?:^|[;\n])\s*import\s*(?:[^'"()]*?\s*from\s*)?["']\.\/([\w.-]+\.js)["']/g))
      visit(m[1]!);
  };
  visit(entry);
  return seen;
}

test('pg is bundled but off the start-up path of mizual-metrics and mizual-alerts', () => {
  const pgChunks = readdirSync(DIST).filter(
    (f) => f.endsWith('.js') && readFileSync(path.join(DIST, f), 'utf8').includes('SCRAM-SERVER-FIRST-MESSAGE'),
  );
  assert.ok(pgChunks.length > 0, 'the pg driver is in dist/');
  for (const entry of ['metrics.js', 'alerts.js']) {
    const loaded = staticClosure(entry);
    assert.ok(loaded.size > 1, `${entry} has static imports`);
    for (const chunk of pgChunks) assert.ok(!loaded.has(chunk), `${entry} loads ${chunk} at start-up`);
  }
});

test('with no database URL, --json has no db, the dashboard no database section, alerts no db: check', async () => {
  const scratch = scratchDir();
  try {
    const env = {
      MIZUAL_STATE_DIR: path.join(scratch.dir, 'state'),
      MIZUAL_ALERT_LOG: path.join(scratch.dir, 'a.log'),
    };
    const json = await runTool('mizual-metrics', ['--json', '--no-docker', '--sample', '100'], { env });
    assert.equal('db' in JSON.parse(json.stdout), false);
    const human = await runTool('mizual-metrics', ['--no-docker', '--sample', '100'], { env });
    assert.doesNotMatch(human.stdout, /^database/m);
    const prom = await runTool('mizual-metrics', ['--prometheus', '--no-docker', '--sample', '100'], { env });
    assert.doesNotMatch(prom.stdout, /mizual_db_/);
    const alerts = await runTool('mizual-alerts', ['--json', '--no-docker', '--cpu-sample', '0'], { env });
    const checks = (JSON.parse(alerts.stdout) as { checks: { check: string }[] }).checks;
    assert.ok(checks.length > 0 && !checks.some((c) => c.check.startsWith('db:')));
    const db = await runTool('mizual-metrics', ['--db', '--no-docker'], { env });
    assert.equal(db.exitCode, 2);
    assert.equal(db.stderr.trim(), 'mizual-metrics: --db needs DATABASE_URL or MIZUAL_DATABASE_URL');
  } finally {
    scratch.cleanup();
  }
});
