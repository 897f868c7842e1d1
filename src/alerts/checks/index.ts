/**
 * Every check of mizual-alerts, in the order they are reported. Adding a check is one file in this
 * folder exporting `defineCheck({ name, flags, run })` and one line in this list.
 */
import type { AlertCheck } from '../check.js';
import { appLogsCheck } from './app-logs.js';
import { containersCheck } from './containers.js';
import { cpuCheck } from './cpu.js';
import { databaseCheck } from './database.js';
import { disksCheck } from './disks.js';
import { dockerLogsCheck } from './docker-logs.js';
import { healthCheck } from './health.js';
import { memoryCheck } from './memory.js';
import { outsideCheck } from './outside.js';
import { shippingCheck } from './shipping.js';
import { trendsCheck } from './trends.js';

export const CHECKS: readonly AlertCheck[] = [
  cpuCheck,
  memoryCheck,
  disksCheck,
  containersCheck,
  dockerLogsCheck,
  trendsCheck,
  healthCheck,
  shippingCheck,
  databaseCheck,
  outsideCheck,
  appLogsCheck,
];
