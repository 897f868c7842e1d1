/** `docker` and `container:<short>`: the engine answers, and each configured container runs (CRITICAL). */
import { defineCheck } from '../check.js';
import type { Observation } from '../state.js';
import type { ContainerSpec } from '../../core/config.js';
import { describeError } from '../../core/errors.js';
import type { ContainerDetails } from '../../docker/model.js';
import type { Snapshot } from '../../docker/snapshot.js';

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 15: 'SIGTERM' };

/** Whether a container is in trouble, and why (exit code, signal, OOM kill, restarts, health). */
export function describeContainer(
  spec: ContainerSpec,
  details: ContainerDetails | null,
): { failing: boolean; state: string; message: string } {
  const name = `container ${spec.name}`;
  const compose = spec.service ? ` (Compose service ${spec.service} of ${spec.project ?? '?'})` : '';
  if (!details && spec.origin === 'remembered') {
    return {
      failing: true,
      state: 'missing',
      message: `${name}${compose} is gone: watched before, now not on this host`,
    };
  }
  if (!details && spec.origin === 'one-shot') return { failing: false, state: 'missing', message: `${name} removed` };
  if (!details) return { failing: true, state: 'missing', message: `${name} does not exist` };
  const code = details.exitCode;
  const signal = code > 128 ? SIGNALS[code - 128] : undefined;
  const exit = `exit code ${code}${signal ? `, ${signal}` : ''}${details.oomKilled ? ', OOM-killed' : ''}`;
  // A one-shot (a migration, restart "no") is meant to exit: only a non-zero exit is worth a WARNING.
  if (spec.origin === 'one-shot' && (details.state === 'exited' || details.state === 'created')) {
    const done = details.state === 'created' ? 'created, not run yet' : `exited (${exit})`;
    return { failing: code !== 0, state: details.state, message: `${name} (one-shot) ${done}` };
  }
  switch (details.state) {
    case 'running':
      if (details.health === 'unhealthy') return { failing: true, state: 'unhealthy', message: `${name} unhealthy` };
      return {
        failing: false,
        state: 'running',
        message: `${name} running${details.health === 'none' ? '' : ` (${details.health})`}`,
      };
    case 'exited':
      return { failing: true, state: 'exited', message: `${name} exited (${exit})` };
    case 'restarting':
      return {
        failing: true,
        state: 'restarting',
        message: `${name} restarting (${exit}, ${details.restartCount} restarts)`,
      };
    case 'dead':
      return { failing: true, state: 'dead', message: `${name} dead (${exit})` };
    case 'created':
      return { failing: true, state: 'created', message: `${name} created but never started` };
    default:
      return { failing: true, state: details.state, message: `${name} ${details.state}` };
  }
}

/** The `docker` and `container:<short>` checks; an unreachable engine is one CRITICAL `docker` check. */
export function containerObservations(specs: readonly ContainerSpec[], inspected: Snapshot): Observation[] {
  if ('error' in inspected) {
    const reason = describeError(inspected.error);
    const unknown = specs.map((spec) => ({
      check: `container:${spec.short}`,
      severity: 'critical' as const,
      value: null,
      threshold: null,
      message: `container ${spec.name}: not checked`,
      unknown: true,
    }));
    return [
      { check: 'docker', severity: 'critical', value: null, threshold: null, message: reason, failing: true },
      ...unknown,
    ];
  }
  const docker: Observation = {
    check: 'docker',
    severity: 'critical',
    value: 'reachable',
    threshold: null,
    message: `Docker engine reachable at ${inspected.endpoint}`,
    failing: false,
  };
  return [
    docker,
    ...inspected.watched.map(({ spec, details }) => {
      const c = describeContainer(spec, details ?? null);
      return {
        check: `container:${spec.short}`,
        severity: spec.origin === 'one-shot' ? ('warning' as const) : ('critical' as const),
        value: c.state,
        threshold: null,
        message: c.message,
        failing: c.failing,
      };
    }),
  ];
}

export const containersCheck = defineCheck({
  name: 'container',
  group: 'Container checks:',
  flags: {},
  run: async (context) => ({
    observations: context.snapshot ? containerObservations(context.config.containers, await context.snapshot) : [],
  }),
});
