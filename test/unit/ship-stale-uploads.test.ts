import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { abortStaleUploads } from '../../src/ship/stale-uploads.js';
import type { OpenUpload } from '../../src/store/client.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const ago = (minutes: number): Date => new Date(NOW - minutes * 60_000);

/** A store whose listing ignores the prefix it is given, as a careless server might. */
function careless(uploads: OpenUpload[]) {
  const aborted: string[] = [];
  return {
    aborted,
    store: {
      listOpenUploads: async () => uploads,
      abortUpload: async (u: OpenUpload) => {
        if (u.key.endsWith('fails.tar.gz')) throw new Error('503');
        aborted.push(u.key);
      },
    },
  };
}

describe('abortStaleUploads', () => {
  it("aborts only this host's uploads older than the longest run, whatever the listing returns", async () => {
    const { store, aborted } = careless([
      { key: 'logs/dev/web-1/2026-12-01/logs-20261201_100000.tar.gz', uploadId: 'a', initiated: ago(90) },
      { key: 'logs/dev/web-1/2026-12-01/logs-20261201_115500.tar.gz', uploadId: 'b', initiated: ago(5) },
      { key: 'logs/dev/web-10/2026-12-01/logs-20261201_100000.tar.gz', uploadId: 'c', initiated: ago(90) },
      { key: 'logs/prod/web-1/2026-12-01/logs-20261201_100000.tar.gz', uploadId: 'd', initiated: ago(90) },
      { key: 'images/web-1/photo.jpg', uploadId: 'e', initiated: ago(900) },
      { key: 'logs/dev/web-1/2026-12-01/fails.tar.gz', uploadId: 'f', initiated: ago(90) },
    ]);
    const sweep = await abortStaleUploads(store, { env: 'dev', hostname: 'web-1' }, NOW, 25 * 60_000);
    assert.deepEqual(aborted, ['logs/dev/web-1/2026-12-01/logs-20261201_100000.tar.gz']);
    assert.deepEqual(sweep.aborted, aborted);
    assert.deepEqual(sweep.failed, ['logs/dev/web-1/2026-12-01/fails.tar.gz']);
  });
});
