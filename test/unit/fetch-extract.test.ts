import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { extractArchive, safeComponents } from '../../src/fetch/extract.js';
import { scratchDir } from '../helpers/cli.js';
import { buildTarGz, makeShipArchive, packDirectory, type TarWriter } from '../helpers/make-archive.js';

const scratch = scratchDir();
after(scratch.cleanup);
let n = 0;

function setup(data: Buffer): { root: string; dir: string; file: string; outside: string } {
  const base = path.join(scratch.dir, `case-${++n}`);
  const root = path.join(base, 'out');
  const outside = path.join(base, 'outside');
  mkdirSync(root, { recursive: true });
  mkdirSync(outside, { recursive: true });
  const file = path.join(root, 'logs-20261125_093000.tar.gz');
  writeFileSync(file, data);
  return { root, dir: path.join(root, 'prod', 'web-1', '2026-11-25', 'logs-20261125_093000'), file, outside };
}

describe('safeComponents', () => {
  it('refuses absolute paths and .. components, normalises the rest', () => {
    assert.equal(safeComponents('/etc/passwd'), 'absolute path');
    assert.equal(safeComponents('../x'), "'..' in path");
    assert.equal(safeComponents('a/../../x'), "'..' in path");
    assert.equal(safeComponents('C:/x'), 'absolute path');
    assert.deepEqual(safeComponents('./a//b.log'), ['a', 'b.log']);
    assert.equal(safeComponents('./'), 'empty name');
  });
});

describe('extractArchive', () => {
  const spec = {
    env: 'prod' as const,
    host: 'web-1',
    start: new Date('2026-11-25T09:00:00Z'),
    end: new Date('2026-11-25T09:30:00Z'),
    containers: [{ short: 'backend', lines: ['2026-11-25T09:00:01.000000001Z hello'] }],
    alerts: ['2026-11-25T09:10:00Z WARNING cpu: 91%'],
  };

  it('extracts a good archive with 0600 files in 0700 directories and verifies it', async () => {
    const { root, dir, file } = setup(makeShipArchive(spec).data);
    const result = await extractArchive(file, dir, root);
    assert.equal(result.verified, true);
    assert.deepEqual(result.refused, []);
    assert.deepEqual(result.mismatches, []);
    assert.deepEqual(readdirSync(dir).sort(), [
      'alerts-20261125_093000.log',
      'backend-20261125_093000.log',
      'manifest.json',
    ]);
    assert.equal(statSync(path.join(dir, 'backend-20261125_093000.log')).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(
      readFileSync(path.join(dir, 'backend-20261125_093000.log'), 'utf8'),
      `${spec.containers[0]?.lines[0]}\n`,
    );
  });

  it('reports a file whose bytes differ from manifest.json', async () => {
    const { root, dir, file } = setup(makeShipArchive({ ...spec, tamper: 'backend-20261125_093000.log' }).data);
    const result = await extractArchive(file, dir, root);
    assert.deepEqual(
      result.mismatches.map((m) => m.name),
      ['backend-20261125_093000.log'],
    );
  });

  it('extracts an archive without a manifest and says it was not verified', async () => {
    const { root, dir, file } = setup(makeShipArchive({ ...spec, noManifest: true }).data);
    const result = await extractArchive(file, dir, root);
    assert.equal(result.verified, false);
    assert.equal(result.files.length, 2);
  });

  it('refuses absolute paths, traversal and links; writes nothing outside; keeps the good entries', async () => {
    const { root, dir, file, outside } = setup(
      buildTarGz([
        { name: 'good-1.log', data: 'one\n' },
        { name: `${path.join(scratch.dir, 'abs-escape.log')}`, data: 'abs\n' },
        { name: '../../../../../outside/dotdot.log', data: 'dotdot\n' },
        { name: 'sub/../../escape.log', data: 'x\n' },
        { name: 'link-out', type: '2', linkname: '../../../../../outside' },
        { name: 'link-out/through.log', data: 'through\n' },
        { name: 'hard-out', type: '1', linkname: '../../../../../outside/target.log' },
        { name: 'nested/dir/good-2.log', data: 'two\n' },
      ]),
    );
    writeFileSync(path.join(outside, 'target.log'), 'original\n');
    const result = await extractArchive(file, dir, root);
    assert.deepEqual(
      result.refused.map((r) => r.name),
      [
        path.join(scratch.dir, 'abs-escape.log'),
        '../../../../../outside/dotdot.log',
        'sub/../../escape.log',
        'link-out',
        'hard-out',
      ],
    );
    assert.deepEqual(readdirSync(outside), ['target.log']);
    assert.equal(readFileSync(path.join(outside, 'target.log'), 'utf8'), 'original\n');
    assert.equal(existsSync(path.join(scratch.dir, 'abs-escape.log')), false);
    assert.equal(readFileSync(path.join(dir, 'good-1.log'), 'utf8'), 'one\n');
    assert.equal(readFileSync(path.join(dir, 'nested/dir/good-2.log'), 'utf8'), 'two\n');
    // The entry under the refused symlink's name became a plain directory inside the target.
    assert.ok(lstatSync(path.join(dir, 'link-out')).isDirectory());
  });

  it('does not follow a symlink that already sits in the target directory', async () => {
    const { root, dir, file, outside } = setup(buildTarGz([{ name: 'pre/file.log', data: 'x\n' }]));
    mkdirSync(dir, { recursive: true });
    symlinkSync(outside, path.join(dir, 'pre'));
    const result = await extractArchive(file, dir, root);
    assert.deepEqual(
      result.refused.map((r) => r.name),
      ['pre/file.log'],
    );
    assert.deepEqual(readdirSync(outside), []);
  });

  it('refuses a target directory that resolves outside the root', async () => {
    const { root, file, outside } = setup(buildTarGz([{ name: 'a.log', data: 'x\n' }]));
    symlinkSync(outside, path.join(root, 'prod'));
    await assert.rejects(extractArchive(file, path.join(root, 'prod', 'x'), root), /outside/);
    assert.deepEqual(readdirSync(outside), []);
  });

  for (const writer of ['gnu-tar', 'bsdtar', 'python-tarfile'] as TarWriter[]) {
    it(`extracts what ${writer} writes from \`-C dir .\`: the ./ entry, ./ names, long names, a foreign manifest`, async () => {
      const src = path.join(scratch.dir, `src-${writer}`);
      const long = `${'l'.repeat(120)}-20261125_093000.log`;
      mkdirSync(path.join(src, 'sub'), { recursive: true });
      writeFileSync(path.join(src, 'backend-20261125_093000.log'), 'untimed line\n');
      writeFileSync(path.join(src, long), 'long name\n');
      writeFileSync(path.join(src, 'sub', 'note.txt'), 'in a directory\n');
      writeFileSync(path.join(src, 'manifest.json'), '{"generator": "someone else"}\n');
      const { root, dir, file } = setup(Buffer.alloc(0));
      packDirectory(writer, src, file);
      const result = await extractArchive(file, dir, root);
      assert.deepEqual(result.refused, []);
      assert.deepEqual(result.mismatches, []);
      assert.equal(result.verified, false);
      assert.deepEqual(result.files.map((f) => f.name).sort(), ['backend-20261125_093000.log', long, 'sub/note.txt']);
      assert.equal(readFileSync(path.join(dir, long), 'utf8'), 'long name\n');
      assert.equal(readFileSync(path.join(dir, 'sub', 'note.txt'), 'utf8'), 'in a directory\n');
    });
  }
});
