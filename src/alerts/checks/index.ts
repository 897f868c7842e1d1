/**
 * Every check of mizual-alerts, in the order they are reported. Adding a check is one file in this
 * folder exporting `defineCheck({ name, flags, run })` and one line in this list.
 */
import type { AlertCheck } from '../check.js';
import { appLogsCheck } from './app-logs.js';
import { celeryStalledCheck } from './celery-stalled.js';
import { containersCheck } from './containers.js';
import { costCheck } from './cost.js';
import { cpuCheck } from './cpu.js';
import { databaseCheck } from './database.js';
import { disksCheck } from './disks.js';
import { dockerDiskCheck } from './docker-disk.js';
import { dockerLogsCheck } from './docker-logs.js';
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
  dockerDiskCheck,
  trendsCheck,
  shippingCheck,
  costCheck,
  databaseCheck,
  outsideCheck,
  appLogsCheck,
  celeryStalledCheck,
];
