import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  alertsEntryName,
  archiveName,
  containerEntryName,
  datePrefix,
  logEntryLabel,
  MANIFEST_FORMAT,
  parseManifest,
  serializeManifest,
  type Manifest,
  formatStamp,
  hostPrefix,
  isValidDate,
  objectKey,
  parseArchiveKey,
} from '../../src/archive/contract.js';

describe('archive keys', () => {
  const end = new Date('2026-11-25T09:30:00.999Z');

  it('names the archive after the window end in UTC, truncated to whole seconds', () => {
    assert.equal(archiveName(end), 'logs-20261125_093000.tar.gz');
    assert.equal(formatStamp(new Date('2026-01-02T03:04:05Z')), '20260102_030405');
  });

  it('builds the object key under logs/<env>/<host>/<date>/', () => {
    assert.equal(objectKey('prod', 'web-1', end), 'logs/prod/web-1/2026-11-25/logs-20261125_093000.tar.gz');
    // A window ending just before midnight UTC belongs to that day, whatever the local zone.
    assert.equal(
      objectKey('dev', 'h', new Date('2026-12-31T23:59:59.5Z')),
      'logs/dev/h/2026-12-31/logs-20261231_235959.tar.gz',
    );
  });

  it('builds host and date prefixes and refuses bad parts', () => {
    assert.equal(hostPrefix('prod', 'web-1'), 'logs/prod/web-1/');
    assert.equal(datePrefix('dev', 'web-1', '2025-01-23'), 'logs/dev/web-1/2025-01-23/');
    assert.throws(() => hostPrefix('prod', '../x'));
    assert.throws(() => hostPrefix('prod', 'a/b'));
    assert.throws(() => datePrefix('prod', 'h', '2025-13-01'));
  });

  it('parses its own keys back', () => {
    const key = objectKey('prod', 'web-1.example', end);
    const parsed = parseArchiveKey(key);
    assert.ok(parsed);
    assert.equal(parsed.env, 'prod');
    assert.equal(parsed.host, 'web-1.example');
    assert.equal(parsed.date, '2026-11-25');
    assert.equal(parsed.name, 'logs-20261125_093000.tar.gz');
    assert.equal(parsed.stamp, '20261125_093000');
    assert.equal(parsed.end.toISOString(), '2026-11-25T09:30:00.000Z');
  });

  it('rejects keys that are not ours', () => {
    for (const key of [
      'logs/prod/web-1/2026-11-25/logs-20261125_093000.tar',
      'logs/staging/web-1/2026-11-25/logs-20261125_093000.tar.gz',
      'logs/prod/web-1/2026-11-26/logs-20261125_093000.tar.gz',
      'logs/prod/web-1/2026-02-30/logs-20260230_093000.tar.gz',
      'logs/prod/web-1/2026-11-25/logs-20261125_253000.tar.gz',
      'logs/prod/a/b/2026-11-25/logs-20261125_093000.tar.gz',
      'x/logs/prod/web-1/2026-11-25/logs-20261125_093000.tar.gz',
    ]) {
      assert.equal(parseArchiveKey(key), undefined, key);
    }
  });

  it('accepts only real calendar dates', () => {
    assert.equal(isValidDate('2024-02-29'), true);
    assert.equal(isValidDate('2025-02-29'), false);
    assert.equal(isValidDate('2025-13-01'), false);
    assert.equal(isValidDate('yesterday'), false);
    assert.equal(isValidDate('2025-1-23'), false);
  });
});

describe('manifest.json', () => {
  const ours = {
    format: MANIFEST_FORMAT,
    tool: 'mizual-ship-logs 0.1.0',
    host: 'web-1',
    env: 'prod',
    window: { start: '2026-11-25T09:00:00.000000000Z', end: '2026-11-25T09:30:00.000000000Z' },
    createdAt: '2026-11-25T09:30:02.000Z',
    files: [{ name: 'alerts-20261125_093000.log', kind: 'alerts', lines: 0, bytes: 0, sha256: '' }],
    missing: [],
    gaps: [],
  } satisfies Manifest;

  it('reads back what the shipper writes', () => {
    const read = parseManifest(serializeManifest(ours).toString('utf8'));
    assert.equal(read.status, 'ours');
    assert.deepEqual(read.status === 'ours' ? read.manifest : undefined, ours);
  });

  it("tells someone else's manifest (no format) from a broken or newer one of ours", () => {
    assert.deepEqual(parseManifest('{"name":"my-app","files":["a"]}'), { status: 'foreign' });
    assert.equal(parseManifest('{"format":1}').status, 'invalid');
    assert.equal(parseManifest('{"format":2,"files":[]}').status, 'invalid');
    assert.equal(parseManifest('{not json').status, 'invalid');
    assert.equal(parseManifest(`\uFEFF${JSON.stringify(ours)}`).status, 'ours');
  });

  it('names the entries of an archive and reads their labels back', () => {
    assert.equal(containerEntryName('backend', '20261125_093000'), 'backend-20261125_093000.log');
    assert.equal(logEntryLabel(alertsEntryName('20261125_093000')), 'alerts');
    assert.equal(logEntryLabel('./backend-20261125_093000.log'), 'backend');
    assert.equal(logEntryLabel('manifest.json'), undefined);
  });
});
