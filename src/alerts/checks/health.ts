/** `health`: MIZUAL_HEALTH_URL answers 2xx (CRITICAL), within `--health-slow` (WARNING). */
import { defineCheck } from '../check.js';
import type { Observation } from '../state.js';
import { describeError } from '../../core/errors.js';
import { describeUrl, requestUrl } from '../../core/http-client.js';
import { parseDuration } from '../../core/units.js';
import type { DialFn } from '../../docker/compose-hosts.js';

export const HEALTH_TIMEOUT_MS = 5_000;

/**
 * GET the health URL: a 2xx is healthy, a 2xx slower than slowMs a WARNING, anything else (and no
 * answer within timeoutMs) CRITICAL. The response time is in the observation's data.
 */
export async function checkHealthUrl(
  url: string,
  timeoutMs = HEALTH_TIMEOUT_MS,
  slowMs = Infinity,
  dial?: DialFn,
): Promise<Observation[]> {
  const shown = describeUrl(url);
  const threshold = Number.isFinite(slowMs) ? slowMs : null;
  const base = { check: 'health', severity: 'critical' as const, threshold };
  try {
    // A Compose name (`http://backend:8000/health`) is dialled at its container; Host and TLS stay the URL's.
    const target = new URL(url);
    const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
    const to = dial ? await dial(target.hostname.replace(/^\[|\]$/g, ''), port) : null;
    const connectTo = to?.container ? { host: to.host, port: to.port } : undefined;
    // A slow limit at or past the timeout still needs an answer to compare.
    const answer = await requestUrl(url, {
      timeoutMs: Math.max(timeoutMs, Number.isFinite(slowMs) ? slowMs * 2 : 0),
      connectTo,
    });
    const ok = answer.status >= 200 && answer.status < 300;
    const slow = ok && answer.elapsedMs > slowMs;
    const limit = slow ? ` (slower than ${slowMs / 1000} s)` : '';
    const message = `${shown} answered HTTP ${answer.status} in ${answer.elapsedMs} ms${limit}`;
    const data = { responseMs: answer.elapsedMs, ...(to?.container ? { via: to.container } : {}) };
    const severity = slow ? ('warning' as const) : ('critical' as const);
    return [{ ...base, severity, value: answer.status, message, failing: !ok || slow, data }];
  } catch (err) {
    return [{ ...base, value: null, message: `${shown}: ${describeError(err)}`, failing: true }];
  }
}

export const healthCheck = defineCheck({
  name: 'health',
  group: 'Probe checks:',
  flags: {
    healthSlowMs: {
      flag: '--health-slow <duration>',
      help: 'MIZUAL_HEALTH_URL slower than this',
      default: '2s',
      parse: parseDuration,
    },
  },
  run: async (context, limits) => ({
    observations: context.config.healthUrl
      ? await checkHealthUrl(context.config.healthUrl, HEALTH_TIMEOUT_MS, limits.healthSlowMs, context.dial)
      : [],
  }),
});
