// The structure of examples/grafana/mizual-dashboard.json (its expressions are run against a real
// Prometheus in test/e2e/prometheus-dashboard.test.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/cli.js';

interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
}
interface Dashboard {
  schemaVersion: number;
  uid: string;
  title: string;
  templating: { list: { name: string; type: string; query: unknown; datasource?: { uid: string } }[] };
  panels: DashboardPanel[];
}

const DASHBOARD_FILE = path.join(ROOT, 'examples/grafana/mizual-dashboard.json');

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;

  it('has a current schema version, a uid and unique panel ids', () => {
    assert.ok(
      Number.isInteger(dashboard.schemaVersion) && dashboard.schemaVersion >= 36,
      String(dashboard.schemaVersion),
    );
    assert.match(dashboard.uid, /^[a-z0-9-]{1,40}$/);
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `duplicate ids in ${ids.join(',')}`);
    assert.ok(ids.every((id) => Number.isInteger(id) && id > 0));
  });

  it('has a Prometheus datasource variable and an instance variable that uses it', () => {
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    const ds = vars.get('datasource');
    assert.equal(ds?.type, 'datasource');
    assert.equal(ds?.query, 'prometheus');
    const instance = vars.get('instance');
    assert.equal(instance?.type, 'query');
    assert.equal(instance?.datasource?.uid, '${datasource}');
    assert.match(JSON.stringify(instance?.query), /label_values\(mizual_\w+, instance\)/);
  });

  it('covers host, filesystems, network, containers and shipping; every query uses both variables', () => {
    const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
    assert.deepEqual(rows, [
      'Host',
      'Filesystems',
      'Network',
      'Containers',
      'Log shipping',
      'Probes and queues',
      'Database',
      'Application',
    ]);
    const queries = dashboard.panels.filter((p) => p.type !== 'row');
    assert.ok(queries.length >= 20);
    for (const p of queries) {
      assert.equal(p.datasource?.uid, '${datasource}', p.title);
      assert.ok(p.targets && p.targets.length > 0, `${p.title} has no query`);
      for (const t of p.targets) {
        assert.equal(t.datasource?.uid, '${datasource}', p.title);
        assert.match(t.expr, /instance=~"\$instance"/, p.title);
      }
    }
  });
});
