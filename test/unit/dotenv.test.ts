// The `.env` syntax against the app's own loader: each text of the table is read by python-dotenv
// (Debian's python3-dotenv, `dotenv_values`) and by ours, in an empty environment, and must agree;
// the rows where docker compose's rule differs from python-dotenv's say which one we follow.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig, requireS3 } from '../../src/core/config.js';
import { parseDotenv } from '../../src/core/dotenv.js';
import { scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-dotenv-');
after(scratch.cleanup);

type Row = [label: string, text: string, expected: Record<string, string>, rule?: 'compose'];

const TABLE: Row[] = [
  ['# inside an unquoted value', 'S3_SECRET_ACCESS_KEY=ab#cd', { S3_SECRET_ACCESS_KEY: 'ab#cd' }],
  ['# after a space starts a comment', 'K=ab #cd', { K: 'ab' }],
  ['# after a tab starts a comment', 'K=ab\t#cd', { K: 'ab' }],
  ['a value that starts with #', 'K=#abc', { K: '#abc' }],
  ['spaces after = then #', 'K=  #abc', { K: '#abc' }],
  ['comment lines, indented too', '# K=x\n   # L=y\nM=1', { M: '1' }],
  ['export prefix', 'export K=v', { K: 'v' }],
  ['single quotes keep # and spaces', "K='a#b c' # note", { K: 'a#b c' }],
  ['double quotes keep #', 'K="a#b"', { K: 'a#b' }],
  ['escapes in double quotes', 'K="a\\nb\\t\\"c\\"\\\\"', { K: 'a\nb\t"c"\\' }],
  ['an escaped quote in single quotes', "K='it\\'s'", { K: "it's" }],
  ['a double-quoted value over two lines', 'K="line1\nline2"\nL=after', { K: 'line1\nline2', L: 'after' }],
  ['KEY= is empty', 'K=\nL=1', { K: '', L: '1' }],
  ['a key without = sets nothing', 'K\nL=1', { L: '1' }],
  ['CRLF line ends', 'K=v\r\nL="w"\r\n', { K: 'v', L: 'w' }],
  ['spaces around an unquoted value', 'K=   spaced value   ', { K: 'spaced value' }],
  ['= inside a value', 'K=a=b=c', { K: 'a=b=c' }],
  ['$ signs are kept', 'K=pa$$word$x', { K: 'pa$$word$x' }],
  ['several comments', 'K=value # one # two', { K: 'value' }],
  ['a backslash before #', 'K=a\\#b', { K: 'a\\#b' }],
  ['the later key wins', 'K=1\nK=2', { K: '2' }],
  ['${NAME} from an earlier key', 'A=x\nB=${A}/y\nC="${A}-z"', { A: 'x', B: 'x/y', C: 'x-z' }],
  ['${NAME:-default} for a name not set', 'B=${MISSING:-def}', { B: 'def' }],
  ['an unterminated quote skips its line only', 'K="open\nL=1', { L: '1' }],
  ['junk after a closing quote skips the line', 'K="a" junk\nL=1', { L: '1' }],
  ['spaces around =', 'K = v', { K: 'v' }],
  // python-dotenv 0.21 interpolates inside single quotes too; compose and the shell do not.
  ['single quotes are literal', "A=x\nK='${A}'", { A: 'x', K: '${A}' }, 'compose'],
];

const PYTHON = `
import io, json, sys
from dotenv import dotenv_values
texts = json.load(sys.stdin)
print(json.dumps([{k: v for k, v in dotenv_values(stream=io.StringIO(t)).items() if v is not None} for t in texts]))
`;

describe('.env syntax: python-dotenv and docker compose rules', () => {
  const python = JSON.parse(
    execFileSync('/usr/bin/python3', ['-c', PYTHON], {
      input: JSON.stringify(TABLE.map((row) => row[1])),
      encoding: 'utf8',
      env: {},
    }),
  ) as Record<string, string>[];

  for (const [index, [label, text, expected, rule]] of TABLE.entries()) {
    it(label, () => {
      const ours = Object.fromEntries(parseDotenv(text));
      assert.deepEqual(ours, expected);
      if (rule === 'compose') assert.notDeepEqual(python[index], expected, 'python-dotenv differs here');
      else assert.deepEqual(python[index], ours, 'python-dotenv reads the same');
    });
  }

  it('a secret with # reaches the S3 settings whole', () => {
    const file = path.join(scratch.dir, 'app.env');
    writeFileSync(
      file,
      [
        'S3_BUCKET_NAME=mizual-images',
        'S3_ENDPOINT_URL=https://s3.us-east-005.backblazeb2.com # B2',
        'S3_ACCESS_KEY_ID=0055f00d',
        'S3_SECRET_ACCESS_KEY=K005ab#cd+/x',
      ].join('\n'),
    );
    const s3 = requireS3(loadConfig({ envFileFlag: file, env: {} }));
    assert.equal(s3.secretAccessKey, 'K005ab#cd+/x');
    assert.equal(s3.endpoint, 'https://s3.us-east-005.backblazeb2.com');
  });
});
