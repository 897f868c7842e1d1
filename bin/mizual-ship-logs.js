#!/usr/bin/env node
import { run } from '../dist/ship-logs.js';
await run(process.argv);
