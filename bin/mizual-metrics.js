#!/usr/bin/env node
import { run } from '../dist/metrics.js';
await run(process.argv);
