/** The load collector: `/proc/loadavg`. */
import { MizualError } from '../core/errors.js';
import { isFiniteNumber, procPath, readProcFile, type HostOptions } from './proc.js';

export interface LoadFigures {
  load1: number;
  load5: number;
  load15: number;
}

/** Read the 1/5/15-minute load averages from `<procRoot>/loadavg`. */
export async function readLoad(opts?: HostOptions): Promise<LoadFigures> {
  const path = procPath(opts, 'loadavg');
  const [load1, load5, load15] = (await readProcFile(path)).trim().split(/\s+/).map(Number);
  if (!isFiniteNumber(load1) || !isFiniteNumber(load5) || !isFiniteNumber(load15)) {
    throw new MizualError(`${path}: unexpected content`);
  }
  return { load1, load5, load15 };
}
