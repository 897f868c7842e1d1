#!/usr/bin/env node
import { run } from '../dist/fetch-logs.js';
await run(process.argv);
