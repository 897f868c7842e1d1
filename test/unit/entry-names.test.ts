import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alertsEntryName, containerEntryName, logEntryLabel } from '../../src/archive/contract.js';
import { parseContainers } from '../../src/core/config.js';

describe('archive entry names never collide', () => {
  const stamp = '20261125_093000';

  it('a container whose short name is `alerts` (any case) gets a name no short name can make', () => {
    assert.equal(containerEntryName('alerts', stamp), `alerts@container-${stamp}.log`);
    assert.equal(containerEntryName('Alerts', stamp), `Alerts@container-${stamp}.log`);
    assert.notEqual(containerEntryName('alerts', stamp), alertsEntryName(stamp));
    assert.equal(logEntryLabel(containerEntryName('alerts', stamp)), 'alerts');
    assert.equal(containerEntryName('backend', stamp), `backend-${stamp}.log`);
  });

  it('no two configurable short names make one entry name, even on a case-insensitive disk', () => {
    const shorts = ['alerts', 'alerts-', 'alerts.container', 'alerts-container', 'a', 'a-', 'backend'];
    const names = [alertsEntryName(stamp), 'manifest.json', ...shorts.map((s) => containerEntryName(s, stamp))];
    assert.equal(new Set(names.map((n) => n.toLowerCase())).size, names.length);
    assert.throws(() => parseContainers('backend,Backend=other'), /names 'Backend' twice/);
  });
});
