/**
 * Named steps of a run where tests make it fail or die, to prove each step leaves a state the next run
 * completes exactly. `MIZUAL_TEST_FAULT=<step>:<fail|kill>[,…]`; unset (as in production), a no-op.
 */
export function faultPoint(step: string): void {
  const spec = process.env['MIZUAL_TEST_FAULT'];
  if (!spec) return;
  for (const item of spec.split(',')) {
    const [name, action] = item.split(':');
    if (name !== step) continue;
    if (action === 'kill') process.kill(process.pid, 'SIGKILL');
    throw Object.assign(new Error(`injected fault at ${step}`), { code: 'EIO' });
  }
}
